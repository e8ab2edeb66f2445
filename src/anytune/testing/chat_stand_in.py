"""A small OpenAI-compatible chat endpoint on 127.0.0.1 for tests: the real ``openai`` client talks to it
over a socket, so requests are built and parsed as in production; answers come from Python functions.

    with ChatStandIn({"ft:x": lambda msgs: "Restart it."}, key="sk-test") as server:
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")

``POST /v1/chat/completions`` (``stream: true`` as server-sent events in OpenAI's chunk format): 401 in
OpenAI's error shape for a wrong key, 404 for an unknown model. ``grading_judge`` answers like an LLM judge:
``{"score": N}`` from the token F1 of the graded answer against the reference in the prompt.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[list[dict]], str]


def grading_judge(messages: list[dict]) -> str:
    from ..evaluation.metrics import token_f1

    text = messages[-1]["content"]
    ref = re.search(r"Reference answer:\n(.*?)\n\nAnswer to grade:\n(.*?)\n\nReply", text, re.S)
    if not ref:
        return "I cannot tell."
    return json.dumps({"score": 1 + round(9 * token_f1(ref.group(2), ref.group(1)))})


class ChatStandIn:
    def __init__(self, answers: dict[str, Answer], *, key: str = "sk-test"):
        self.answers, self.key = answers, key
        self.requests: list[dict] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, message: str, kind: str, err_code: str | None = None) -> None:
                self._send(code, {"error": {"message": message, "type": kind, "param": None, "code": err_code}})

            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.headers.get("Authorization") != f"Bearer {stand_in.key}":
                    return self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._error(404, f"no route {self.path}", "invalid_request_error")
                stand_in.requests.append(body)
                answer = stand_in.answers.get(body.get("model"))
                if answer is None:
                    return self._error(404, f"The model {body.get('model')} does not exist", "invalid_request_error",
                                       "model_not_found")
                text = answer(body["messages"])
                words = len(text.split())
                if body.get("stream"):
                    return self._stream(body["model"], text)
                self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                                 "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words}})

            def _stream(self, model: str, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in re.findall(r"\S+\s*", text):
                    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                             "model": model, "choices": [{"index": 0, "delta": {"content": piece},
                                                          "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ChatStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
