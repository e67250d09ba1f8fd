import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
size = int(sys.argv[2]) << 20
buf = b"x" * (256 << 10)
c = socket.create_connection((host, int(port)))
start = time.time()
sent = 0
while sent < size:
    c.sendall(buf); sent += len(buf)
c.shutdown(socket.SHUT_WR)
while c.recv(1 << 16):
    pass
print("%.1f" % (size / (time.time() - start) / 1e6))
