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
    private readonly Channel<ConnectionContext> _incoming = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = false });
    private readonly SocketConnectionContextFactory _factory = new(new SocketConnectionFactoryOptions(), NullLogger.Instance);

    public EndPoint EndPoint { get; } = new PassedEndPoint();

    public bool CanBind(EndPoint endpoint) => endpoint is PassedEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IConnectionListener>(this);

    /// <summary>Hands a received client socket to Kestrel under the dispatcher's connection id.</summary>
    public void Add(Socket socket, string connectionId)
    {
        var context = _factory.Create(socket);
        context.ConnectionId = connectionId;
        if (!_incoming.Writer.TryWrite(context)) { socket.Dispose(); }
    }

    /// <summary>No more connections will come (the dispatcher channel closed).</summary>
    public void Complete() => _incoming.Writer.TryComplete();

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            if (await _incoming.Reader.WaitToReadAsync(cancellationToken) && _incoming.Reader.TryRead(out var c)) return c;
        }
        catch (OperationCanceledException) { }
        return null;
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default) { Complete(); return ValueTask.CompletedTask; }

    public ValueTask DisposeAsync() { Complete(); _factory.Dispose(); return ValueTask.CompletedTask; }
}
