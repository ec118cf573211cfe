from config.urls import urlpatterns as app_urlpatterns
from tests.benchmarks.bench_gateway import urlpatterns as bare_urlpatterns

urlpatterns = bare_urlpatterns + app_urlpatterns
