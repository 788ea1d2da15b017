// A loopback proxy that hands a client's first flight (its ClientHello) to the server cut up the
// way a hostile or unlucky client might: "records1" re-frames the handshake into TLS records of
// one byte each; "gap" sends the first 5 bytes, waits 200 ms, then the rest. Everything after
// the first flight, both ways, is passed through untouched.
// usage: node fragment-proxy.js LISTEN_PORT TARGET_PORT MODE   (prints "ready" when listening)
const net = require('net');
const [listenPort, targetPort, mode] = process.argv.slice(2);
net.createServer((client) => {
  const server = net.connect(Number(targetPort), '127.0.0.1');
  let first = Buffer.alloc(0), done = false;
  const onData = (chunk) => {
    if (done) { server.write(chunk); return; }
    first = Buffer.concat([first, chunk]);
    if (first.length < 5) return;
    const length = first.readUInt16BE(3);
    if (first.length < 5 + length) return;
    done = true;
    const hello = first.subarray(0, 5 + length), rest = first.subarray(5 + length);
    if (mode === 'records1') {
      const message = hello.subarray(5), parts = [];
      for (const b of message) parts.push(Buffer.from([22, 3, 1, 0, 1, b]));
      server.write(Buffer.concat(parts));
      if (rest.length) server.write(rest);
    } else {
      server.write(hello.subarray(0, 5));
      setTimeout(() => { server.write(hello.subarray(5)); if (rest.length) server.write(rest); }, 200);
    }
  };
  client.on('data', onData);
  server.on('data', (d) => client.write(d));
  client.on('end', () => server.end()); server.on('end', () => client.end());
  client.on('error', () => server.destroy()); server.on('error', () => client.destroy());
}).listen(Number(listenPort), '127.0.0.1', () => console.log('ready'));
