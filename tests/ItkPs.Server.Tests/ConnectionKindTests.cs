using ItkPs.Server;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>The kind of a passed connection travels with it and nothing else is accepted.</summary>
public class ConnectionKindTests
{
    [Theory]
    [InlineData(ConnectionKind.Http1)]
    [InlineData(ConnectionKind.Tls)]
    [InlineData(ConnectionKind.H2c)]
    public void TheKindSurvivesTheChannel(ConnectionKind kind)
    {
        var buffer = new byte[Protocol.MaxMessage];
        int n = Protocol.Encode(new ConnectionMessage(7, 3, kind), buffer);
        var m = Assert.IsType<ConnectionMessage>(Protocol.Decode(buffer.AsSpan(0, n), hasDescriptor: true, Direction.DispatcherToWorker));
        Assert.Equal((7L, 3, kind), (m.Id, m.Vhost, m.Kind));
    }

    [Fact]
    public void AnUnknownKindIsAProtocolError()
    {
        var buffer = new byte[Protocol.MaxMessage];
        int n = Protocol.Encode(new ConnectionMessage(7, 3, ConnectionKind.Tls), buffer);
        buffer[n - 1] = 9;
        Assert.Throws<ProtocolException>(() => Protocol.Decode(buffer.AsSpan(0, n), hasDescriptor: true, Direction.DispatcherToWorker));
    }
}
