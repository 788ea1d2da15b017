using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace ItkPs.Server;

/// <summary>
/// An "address" a worker's Kestrel listens on: the connections the dispatcher hands over of one
/// kind, each kind with its own ListenOptions (HTTP/1 in the clear, TLS with h2 and http/1.1 by
/// ALPN, h2c with prior knowledge).
/// </summary>
public sealed class PassedEndPoint(ConnectionKind kind) : EndPoint
{
    public ConnectionKind Kind { get; } = kind;
    public override string ToString() => $"passed-fd ({Kind})";
}

/// <summary>
/// A Kestrel transport whose connections are sockets received over the dispatcher channel
/// (SCM_RIGHTS), wrapped by Kestrel's own SocketConnectionContextFactory so everything past
/// accept is the stock socket transport. One listener per <see cref="ConnectionKind"/>.
/// </summary>
public sealed class PassedConnectionListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    // Kestrel's default scheduling (connection code on the thread pool, not on the socket thread):
    // measured against inline scheduling on a 1 KB static file, 32 kept-alive connections, it
    // serves 20-30 % more requests per second on plain HTTP and 15-30 % more over TLS, for the
    // same CPU; a request's file reads (stat, open, pread) would otherwise hold up every
    // connection of that socket thread.
    private readonly SocketConnectionContextFactory _factory = new(new SocketConnectionFactoryOptions(), NullLogger.Instance);
    private readonly PassedListener?[] _listeners = new PassedListener?[3];
    private readonly object _gate = new();
    private bool _complete;
    private int _open;

    public bool CanBind(EndPoint endpoint) => endpoint is PassedEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var kind = ((PassedEndPoint)endpoint).Kind;
        lock (_gate)
        {
            var l = _listeners[(int)kind] ??= new PassedListener(endpoint);
            if (_complete) l.Complete();
            return ValueTask.FromResult<IConnectionListener>(l);
        }
    }

    /// <summary>Connections handed to Kestrel and not yet disposed (their output not yet all in the kernel).</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Hands a received client socket to Kestrel's endpoint of its kind, under the dispatcher's connection id.</summary>
    public void Add(Socket socket, string connectionId, ConnectionKind kind)
    {
        var listener = _listeners[(int)kind];
        // What Kestrel's own listener does to every accepted socket: without it, a response written
        // after data still unacknowledged (TLS 1.3's session tickets after the handshake, a second
        // write of a response) waits for the client's delayed ACK, up to 40 ms.
        try { socket.NoDelay = true; }
        catch (SocketException) { } // a peer that reset the connection already: Kestrel sees it next
        var context = _factory.Create(socket);
        context.ConnectionId = connectionId;
        Interlocked.Increment(ref _open);
        if (listener is null || !listener.TryWrite(new TrackedConnection(context, () => Interlocked.Decrement(ref _open))))
        {
            Interlocked.Decrement(ref _open);
            Log.Write(LogEvent.RequestFailed, $"connection {connectionId} ({kind}) arrived after the listener closed; dropped");
            socket.Dispose();
        }
    }

    /// <summary>No more connections will come (the dispatcher channel closed).</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _complete = true;
            foreach (var l in _listeners) l?.Complete();
        }
    }

    /// <summary>Set once the channel is complete and every queued connection went to Kestrel.</summary>
    public Task Drained => Task.WhenAll(_listeners.Where(l => l is not null).Select(l => l!.Completion));

    public ValueTask DisposeAsync() { Complete(); _factory.Dispose(); return ValueTask.CompletedTask; }

    /// <summary>The connections of one kind, in the order the dispatcher passed them.</summary>
    private sealed class PassedListener(EndPoint endpoint) : IConnectionListener
    {
        // Synchronous continuations: Kestrel's accept loop resumes on the thread that received the
        // socket (the dispatcher-channel reader, which only hands sockets over) instead of a
        // thread-pool hop per connection; Kestrel queues the connection's own work anyway.
        private readonly Channel<ConnectionContext> _incoming = Channel.CreateUnbounded<ConnectionContext>(
            new UnboundedChannelOptions { SingleReader = false, AllowSynchronousContinuations = true });

        public EndPoint EndPoint { get; } = endpoint;
        public bool TryWrite(ConnectionContext c) => _incoming.Writer.TryWrite(c);
        public void Complete() => _incoming.Writer.TryComplete();
        public Task Completion => _incoming.Reader.Completion;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                while (await _incoming.Reader.WaitToReadAsync(cancellationToken))
                    if (_incoming.Reader.TryRead(out var c)) return c;
            }
            catch (OperationCanceledException) { }
            return null;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) { Complete(); return ValueTask.CompletedTask; }
        public ValueTask DisposeAsync() { Complete(); return ValueTask.CompletedTask; }
    }
}

/// <summary>
/// Kestrel's socket connection, counted until Kestrel disposes it: only then has the socket
/// transport pushed the last bytes of the response into the kernel, so a draining worker
/// waits for this count before it exits (else the end of a download would be lost).
/// </summary>
internal sealed class TrackedConnection(ConnectionContext inner, Action disposed) : ConnectionContext
{
    private int _disposed;
    public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }
    public override Microsoft.AspNetCore.Http.Features.IFeatureCollection Features => inner.Features;
    public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }
    public override System.IO.Pipelines.IDuplexPipe Transport { get => inner.Transport; set => inner.Transport = value; }
    public override CancellationToken ConnectionClosed { get => inner.ConnectionClosed; set => inner.ConnectionClosed = value; }
    public override EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }
    public override EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }
    public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);
    public override void Abort() => inner.Abort();

    public override async ValueTask DisposeAsync()
    {
        try { await inner.DisposeAsync(); }
        finally { if (Interlocked.Exchange(ref _disposed, 1) == 0) disposed(); }
    }
}
