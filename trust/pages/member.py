"""No member page shows trust data alone: the member's pages live in payouts.pages.member
(earnings, leases, statements) and licensing.pages.member (assets, consent)."""

urlpatterns = []
