import socket, sys, threading
ln = socket.socket(); ln.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ln.bind(("127.0.0.1", 0)); ln.listen(16)
print(ln.getsockname()[1], flush=True)
def serve(c):
    while c.recv(1 << 20):
        pass
    c.close()
while True:
    c, _ = ln.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
