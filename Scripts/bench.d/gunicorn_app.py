# Contender (c) of Scripts/bench's HTTP group, for reference: gunicorn's sync workers
# serving this WSGI application, which answers as Scripts/bench.d/http-handler.c does (the
# same status, headers and body). gunicorn's sync worker closes every connection itself.
#
#   gunicorn -w W --bind fd://3 --chdir Scripts/bench.d gunicorn_app:app
BODY = b"Hello, world\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY))), ("Connection", "close")]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
