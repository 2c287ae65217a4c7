"""Init weights: downloads from a local HTTP server (resume after a cut
connection, a server that ignores Range, a sha256 mismatch) and conversion of
a file the user already has; nothing reaches the internet."""
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from fcn_mm.apis.pretrained import (PRETRAINED, DownloadError, Pretrained,
                                    download, fetch_pretrained,
                                    pretrained_for_path)

PAYLOAD = bytes(range(256)) * 40  # 10240 bytes, every byte value
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at any path; honours ``Range: bytes=N-`` unless told
    not to; cuts the first response after ``cut`` bytes if set."""

    def do_GET(self):  # noqa: N802  (http.server's name)
        server = self.server
        server.ranges.append(self.headers.get('Range'))
        start = 0
        if self.headers.get('Range') and server.honour_range:
            start = int(self.headers['Range'].split('=')[1].rstrip('-'))
            if start >= len(PAYLOAD):
                self.send_error(416)
                return
        self.send_response(206 if start else 200)
        self.send_header('Content-Length', str(len(PAYLOAD) - start))
        self.end_headers()
        body = PAYLOAD[start:]
        if server.cut is not None:
            body, server.cut = body[:server.cut], None
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    httpd.ranges, httpd.honour_range, httpd.cut = [], True, None
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05, ),
                              daemon=True)
    thread.start()
    port = httpd.server_address[1]
    httpd.url = f'http://127.0.0.1:{port}/w-{SHA256[:8]}.pth'
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_download_checks_and_reports_progress(server, tmp_path):
    seen = []
    dst = tmp_path / 'sub' / 'w.pth'
    download(server.url, str(dst), sha256=SHA256[:8],
             progress=lambda done, total: seen.append((done, total)))
    assert dst.read_bytes() == PAYLOAD
    assert not Path(f'{dst}.part').exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert server.ranges == [None]


def test_a_cut_download_resumes_where_it_stopped(server, tmp_path):
    server.cut = 3000
    dst = tmp_path / 'w.pth'
    with pytest.raises(DownloadError,
                       match=r'stopped at 3000 of 10240 bytes.*run the same '
                       'command again to resume'):
        download(server.url, str(dst), sha256=SHA256, timeout=5)
    assert not dst.exists()
    assert Path(f'{dst}.part').read_bytes() == PAYLOAD[:3000]
    download(server.url, str(dst), sha256=SHA256)
    assert server.ranges == [None, 'bytes=3000-']
    assert dst.read_bytes() == PAYLOAD


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    server.honour_range = False
    dst = tmp_path / 'w.pth'
    Path(f'{dst}.part').write_bytes(b'stale bytes')
    download(server.url, str(dst), sha256=SHA256)
    assert dst.read_bytes() == PAYLOAD


def test_a_complete_part_file_is_verified_and_kept(server, tmp_path):
    dst = tmp_path / 'w.pth'
    Path(f'{dst}.part').write_bytes(PAYLOAD)
    download(server.url, str(dst), sha256=SHA256)  # the server answers 416
    assert dst.read_bytes() == PAYLOAD


def test_a_sha256_mismatch_removes_the_download(server, tmp_path):
    dst = tmp_path / 'w.pth'
    with pytest.raises(DownloadError, match=f'has sha256 {SHA256}, expected '
                       'one starting with 00000000'):
        download(server.url, str(dst), sha256='00000000')
    assert not dst.exists() and not Path(f'{dst}.part').exists()


def test_an_unreachable_server_says_what_to_do(tmp_path):
    with pytest.raises(DownloadError, match='cannot reach .*--from FILE'):
        download('http://127.0.0.1:9/w.pth', str(tmp_path / 'w.pth'),
                 sha256=SHA256, timeout=5)


def test_fetch_puts_the_file_where_configs_look(server, tmp_path,
                                                monkeypatch):
    monkeypatch.setitem(PRETRAINED, 'tiny', Pretrained(
        'tiny', 'checkpoints/tiny.pth', server.url, SHA256[:8], 'a test'))
    path = fetch_pretrained('tiny', root=str(tmp_path))
    assert Path(path) == tmp_path / 'checkpoints' / 'tiny.pth'
    assert Path(path).read_bytes() == PAYLOAD
    # Present: nothing is downloaded again.
    fetch_pretrained('tiny', root=str(tmp_path))
    assert server.ranges == [None]
    # A local copy is checked against the official hash before copying.
    other = tmp_path / 'other.pth'
    other.write_bytes(b'not the weights')
    with pytest.raises(DownloadError, match=f'{other} has sha256'):
        fetch_pretrained('tiny', root=str(tmp_path / 'r'), source=str(other))


def test_fetch_converts_a_downloaded_vgg16(tmp_path, run_tool):
    from test_converters.test_vgg import torchvision_state_dict
    source = tmp_path / 'vgg16-397923af.pth'
    weights = torchvision_state_dict()
    torch.save(weights, source)
    output = run_tool('misc/fetch_pretrained', 'vgg16', '--from', source,
                      '--root', tmp_path, cwd=tmp_path).stdout
    target = tmp_path / PRETRAINED['vgg16'].path
    assert f'vgg16: ready at {target}' in output
    converted = torch.load(target, weights_only=True)['state_dict']
    assert torch.equal(converted['conv1_1.conv.weight'],
                       weights['features.0.weight'])
    assert converted['fc6.conv.weight'].shape == (24, 32, 7, 7)


def test_fetch_names_a_missing_source_and_an_unknown_name(tmp_path,
                                                          load_tool, capsys):
    tool = load_tool('tools/misc/fetch_pretrained.py')
    assert tool.main(['vgg16', '--from', str(tmp_path / 'nope.pth')]) == 1
    assert f'no file at {tmp_path / "nope.pth"}' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['vgg19'])
    assert exit_info.value.code == 2
    assert "unknown names ['vgg19']" in capsys.readouterr().err


def test_config_paths_map_to_their_entries():
    assert pretrained_for_path('checkpoints/resnet50_v1c.pth').name == \
        'resnet50_v1c'
    assert pretrained_for_path('./checkpoints/vgg16_imagenet_fcn_mm.pth') \
        .name == 'vgg16'
    assert pretrained_for_path('checkpoints/mine.pth') is None
