using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace ItkPs.Server.Scripts;

/// <summary>
/// The client side of FastCGI 1.0 (the responder role) over a Unix socket. Hand-written because
/// .NET has no maintained FastCGI client; it is the small part of the protocol a web server
/// uses: BEGIN_REQUEST with KEEP_CONN, PARAMS, STDIN, and STDOUT/STDERR/END_REQUEST back.
/// One request at a time per connection, so the request id is always 1.
/// </summary>
public sealed class FastCgiConnection : IDisposable
{
    private const byte Version = 1, BeginRequest = 1, EndRequest = 3, Params = 4, Stdin = 5, Stdout = 6, Stderr = 7;
    private const int MaxContent = 65535;
    private readonly Socket _socket;
    internal readonly byte[] In = new byte[64 * 1024];
    internal int InStart, InEnd;

    private FastCgiConnection(Socket socket) { _socket = socket; }

    /// <summary>
    /// Asks the application to keep the connection after the response (FCGI_KEEP_CONN). Only for
    /// the worker's own php-cgi children: a kept connection holds a php-fpm child too, and more
    /// of them than the pool has children would leave requests waiting in its backlog.
    /// </summary>
    public bool KeepConnection { get; init; }

    /// <summary>False once anything went wrong or a response was not read to its end.</summary>
    public bool Reusable { get; internal set; } = true;

    public static async Task<FastCgiConnection> ConnectAsync(string path, bool keep, CancellationToken ct)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct); }
        catch { s.Dispose(); throw; }
        return new FastCgiConnection(s) { KeepConnection = keep };
    }

    /// <summary>Sends the request (the body streamed in STDIN records) and returns its STDOUT as a stream.</summary>
    public async Task<FastCgiStdout> SendAsync(IReadOnlyList<KeyValuePair<string, string>> parameters, Stream? body, Action<string> stderr, CancellationToken ct)
    {
        Reusable = false; // until END_REQUEST is read (and only with KeepConnection)
        // The name-value pairs, then the records around them, in buffers this connection keeps:
        // one send and no allocation for a request without a body.
        int p = 0;
        foreach (var (k, v) in parameters)
        {
            int kl = Encoding.UTF8.GetByteCount(k), vl = Encoding.UTF8.GetByteCount(v);
            Ensure(ref _params, p + kl + vl + 8);
            p += Length(_params.AsSpan(p), kl);
            p += Length(_params.AsSpan(p), vl);
            p += Encoding.UTF8.GetBytes(k, _params.AsSpan(p));
            p += Encoding.UTF8.GetBytes(v, _params.AsSpan(p));
        }
        int records = p / MaxContent + 1;
        Ensure(ref _out, 16 + p + 8 * (records + 2));
        var o = _out.AsSpan();
        Header(o, BeginRequest, 8, 0);
        o[8] = 0; o[9] = 1; o[10] = KeepConnection ? (byte)1 : (byte)0; // role RESPONDER, flags KEEP_CONN or none
        o[11] = o[12] = o[13] = o[14] = o[15] = 0;
        int at = 16;
        for (int i = 0; i < p; i += MaxContent)
        {
            int n = Math.Min(MaxContent, p - i);
            Header(o[at..], Params, n, 0);
            _params.AsSpan(i, n).CopyTo(o[(at + 8)..]);
            at += 8 + n;
        }
        Header(o[at..], Params, 0, 0); at += 8;
        if (body is null) { Header(o[at..], Stdin, 0, 0); at += 8; }
        await SendAllAsync(_out.AsMemory(0, at), ct);
        if (body is not null)
        {
            // Streamed: never more than one record of the body in memory.
            byte[] chunk = new byte[8 + 32 * 1024];
            int n;
            while ((n = await body.ReadAsync(chunk.AsMemory(8, 32 * 1024), ct)) > 0)
            {
                Header(chunk, Stdin, n, 0);
                await SendAllAsync(chunk.AsMemory(0, 8 + n), ct);
            }
            Header(chunk, Stdin, 0, 0);
            await SendAllAsync(chunk.AsMemory(0, 8), ct);
        }
        return new FastCgiStdout(this, stderr);
    }

    private async Task SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (data.Length > 0) data = data[await _socket.SendAsync(data, SocketFlags.None, ct)..];
    }

    internal async ValueTask<bool> FillAsync(int need, CancellationToken ct)
    {
        if (InEnd - InStart >= need) return true;
        if (InStart > 0) { Buffer.BlockCopy(In, InStart, In, 0, InEnd - InStart); InEnd -= InStart; InStart = 0; }
        while (InEnd - InStart < need)
        {
            int n = await _socket.ReceiveAsync(In.AsMemory(InEnd), SocketFlags.None, ct);
            if (n == 0) return false;
            InEnd += n;
        }
        return true;
    }

    private static void Header(Span<byte> into, byte type, int length, int padding)
    {
        into[0] = Version; into[1] = type;
        BinaryPrimitives.WriteUInt16BigEndian(into[2..], 1);
        BinaryPrimitives.WriteUInt16BigEndian(into[4..], (ushort)length);
        into[6] = (byte)padding; into[7] = 0;
    }

    private byte[] _params = new byte[4096], _out = new byte[4096];

    private static void Ensure(ref byte[] buffer, int size)
    {
        if (buffer.Length < size) Array.Resize(ref buffer, Math.Max(size, buffer.Length * 2));
    }

    private static int Length(Span<byte> to, int n)
    {
        if (n < 128) { to[0] = (byte)n; return 1; }
        BinaryPrimitives.WriteUInt32BigEndian(to, (uint)n | 0x80000000u);
        return 4;
    }

    internal static (byte Type, int Length, int Padding) ParseHeader(ReadOnlySpan<byte> h) =>
        (h[1], BinaryPrimitives.ReadUInt16BigEndian(h[4..]), h[6]);

    public void Dispose() => _socket.Dispose();

    internal const byte TypeStdout = Stdout, TypeStderr = Stderr, TypeEndRequest = EndRequest;
}

/// <summary>The STDOUT records of one response, as a stream; STDERR goes to the error log, END_REQUEST ends it.</summary>
public sealed class FastCgiStdout(FastCgiConnection connection, Action<string> stderr) : Stream, IBufferedEnd
{
    private int _content, _padding;
    private bool _ended;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        var c = connection;
        while (!_ended)
        {
            if (_content > 0)
            {
                if (c.InEnd == c.InStart && !await c.FillAsync(1, ct)) throw new IOException("the FastCGI server closed the connection mid-response");
                int n = Math.Min(Math.Min(_content, c.InEnd - c.InStart), buffer.Length);
                c.In.AsSpan(c.InStart, n).CopyTo(buffer.Span);
                c.InStart += n; _content -= n;
                return n;
            }
            if (_padding > 0)
            {
                if (!await c.FillAsync(_padding, ct)) throw new IOException("the FastCGI server closed the connection mid-record");
                c.InStart += _padding; _padding = 0;
            }
            if (!await c.FillAsync(8, ct)) throw new IOException("the FastCGI server closed the connection before END_REQUEST");
            var (type, length, padding) = FastCgiConnection.ParseHeader(c.In.AsSpan(c.InStart, 8));
            c.InStart += 8;
            if (type == FastCgiConnection.TypeStdout) { _content = length; _padding = padding; continue; }
            if (!await c.FillAsync(length + padding, ct)) throw new IOException("the FastCGI server closed the connection mid-record");
            if (type == FastCgiConnection.TypeStderr && length > 0)
                stderr(Encoding.UTF8.GetString(c.In, c.InStart, length).TrimEnd('\n'));
            c.InStart += length + padding;
            if (type == FastCgiConnection.TypeEndRequest)
            {
                _ended = true;
                c.Reusable = c.KeepConnection && c.InStart == c.InEnd; // nothing stray after the end
            }
        }
        return 0;
    }

    /// <summary>True when the rest of the response, up to END_REQUEST, is already in the buffer.</summary>
    public bool RestIsBuffered
    {
        get
        {
            var c = connection;
            int at = c.InStart + _content + _padding;
            while (!_ended)
            {
                if (at + 8 > c.InEnd) return false;
                var (type, length, padding) = FastCgiConnection.ParseHeader(c.In.AsSpan(at, 8));
                at += 8 + length + padding;
                if (at > c.InEnd) return false;
                if (type == FastCgiConnection.TypeEndRequest) return true;
            }
            return true;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
