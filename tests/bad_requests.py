"""Requests the gateway must refuse, shared by the in-process (tests/unit) and real (test_gateway)
tests: (path, query, status, part of the error message), and refused check targets."""

BAD_REQUESTS = [
    ('/add', {'x': 'abc'}, 400, 'x must be an integer'),
    ('/add', {'x': '1.5'}, 400, 'x must be an integer'),
    ('/add', {'y': '9' * 30}, 400, 'between'),
    ('/check', {}, 400, 'either url'),
    ('/check', {'url': 'http://example.com', 'host': 'example.com'}, 400, 'either url'),
    ('/check', {'host': 'example.com', 'port': 'http'}, 400, 'not a number'),
    ('/check', {'host': 'example.com', 'port': '0'}, 400, 'outside 1-65535'),
    ('/check', {'host': 'example.com'}, 400, 'not a number'),
    ('/check', {'host': 'a b', 'port': '80'}, 400, 'characters'),
    ('/check', {'url': 'ftp://example.com/'}, 400, 'scheme'),
    ('/check', {'url': '8.8.8.8', 'ignore_result': 'maybe'}, 400, 'ignore_result must be'),
    ('/check', {'url': 'http://8.8.8.8/', 'timeout': '999'}, 400, 'timeout must be between'),
    ('/check', {'url': 'http://8.8.8.8/', 'timeout': 'nan'}, 400, 'timeout must be between'),
    ('/check', {'host': '8.8.8.8', 'port': '80', 'ignore_result': '1'}, 400, 'url checks only'),
    ('/check', {'url': 'http://no-such-host.invalid/'}, 400, 'does not resolve'),
    ('/result/not-a-task-id', {}, 404, 'no such endpoint'),
    ('/nope', {}, 404, 'no such endpoint'),
]
# Spellings of refused addresses, for a gateway whose CHECK_ALLOW is empty.
SSRF_TARGETS = {
    'decimal': 'http://2130706433/', 'octal': 'http://0177.0.0.1/', 'hex': 'http://0x7f.0.0.1/',
    'short': 'http://127.1/', 'ipv4-mapped': 'http://[::ffff:127.0.0.1]/', 'unspecified': 'http://0.0.0.0/',
    'ipv6 loopback': 'http://[::1]/', 'localhost': 'http://localhost/', 'localhost dot': 'http://localhost./',
    'metadata': 'http://169.254.169.254/latest/meta-data/', 'private': 'http://10.0.0.1/',
    'userinfo trick': 'http://8.8.8.8@127.0.0.1/', 'https loopback': 'https://127.0.0.1/',
}
TCP_SSRF_HOSTS = ('127.0.0.1', '2130706433', 'localhost', '::1', '169.254.169.254')
