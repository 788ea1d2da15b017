// One HTTP/2 connection with a chosen SNI, then requests with chosen :authority values, one
// stream after another on the same session. Prints one JSON line per stream: authority, status,
// body; then whether the session was still open (no GOAWAY) after the last one.
// usage: node h2-streams.js PORT SNI AUTHORITY... (certificate checks off: the test compares fingerprints itself)
const http2 = require('http2');
const [port, sni, ...authorities] = process.argv.slice(2);
const session = http2.connect(`https://127.0.0.1:${port}`, { servername: sni, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
let goaway = false;
session.on('goaway', () => { goaway = true; });
session.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
(async () => {
  for (const authority of authorities) {
    const result = await new Promise((resolve) => {
      const req = session.request({ ':path': '/', ':authority': authority });
      let status = 0, body = '';
      req.on('response', (h) => { status = h[':status']; });
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => resolve({ authority, status, body: body.trim() }));
      req.on('error', (e) => resolve({ authority, status: -1, body: e.message }));
      req.end();
    });
    console.log(JSON.stringify(result));
  }
  console.log(JSON.stringify({ open: !session.closed && !session.destroyed && !goaway }));
  session.close();
})();
