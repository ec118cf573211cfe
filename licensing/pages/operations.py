"""Portal pages (being written)."""

urlpatterns = []
