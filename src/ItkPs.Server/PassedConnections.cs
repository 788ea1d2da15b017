using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace ItkPs.Server;

/// <summary>The "address" a worker's Kestrel listens on: connections handed over by the dispatcher.</summary>
public sealed class PassedEndPoint : EndPoint
{
    public override string ToString() => "passed-fd";
}

/// <summary>
/// A Kestrel transport whose connections are sockets received over the dispatcher channel
/// (SCM_RIGHTS), wrapped by Kestrel's own SocketConnectionContextFactory so everything past
/// accept is the stock socket transport.
/// </summary>
public sealed class PassedConnectionListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IConnectionListener
{
    // Synchronous continuations: Kestrel's accept loop resumes on the thread that received the
    // socket (the dispatcher-channel reader, which only hands sockets over) instead of a
    // thread-pool hop per connection; Kestrel queues the connection's own work anyway.
    private readonly Channel<ConnectionContext> _incoming = Channel.CreateUnbounded<ConnectionContext>(
        new UnboundedChannelOptions { SingleReader = false, AllowSynchronousContinuations = true });
    // Inline scheduling: I/O completions run the connection code on the socket thread, saving a
    // thread hop per read; the request handlers here never block.
    private readonly SocketConnectionContextFactory _factory = new(new SocketConnectionFactoryOptions { UnsafePreferInlineScheduling = true }, NullLogger.Instance);

    public EndPoint EndPoint { get; } = new PassedEndPoint();

    public bool CanBind(EndPoint endpoint) => endpoint is PassedEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IConnectionListener>(this);

    private int _open;

    /// <summary>Connections handed to Kestrel and not yet disposed (their output not yet all in the kernel).</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Hands a received client socket to Kestrel under the dispatcher's connection id.</summary>
    public void Add(Socket socket, string connectionId)
    {
        var context = _factory.Create(socket);
        context.ConnectionId = connectionId;
        Interlocked.Increment(ref _open);
        if (!_incoming.Writer.TryWrite(new TrackedConnection(context, () => Interlocked.Decrement(ref _open))))
        {
            Interlocked.Decrement(ref _open);
            Log.Write(LogEvent.RequestFailed, $"connection {connectionId} arrived after the listener closed; dropped");
            socket.Dispose();
        }
    }

    /// <summary>No more connections will come (the dispatcher channel closed).</summary>
    public void Complete() => _incoming.Writer.TryComplete();

    /// <summary>Set once the channel is complete and every queued connection went to Kestrel.</summary>
    public Task Drained => _incoming.Reader.Completion;

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

    public ValueTask DisposeAsync() { Complete(); _factory.Dispose(); return ValueTask.CompletedTask; }
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
