using ItkPs.Server;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>The one encoder and decoder: every record survives a round trip; anything else is a ProtocolException.</summary>
public class ProtocolTests
{
    public static TheoryData<Message, Direction> Messages => new()
    {
        { new ListenerMessage(3), Direction.MasterToDispatcher },
        { new WorkerUpMessage(7, 4242), Direction.MasterToDispatcher },
        { new WorkerUpMessage(7, 4242, Adopted: true), Direction.MasterToDispatcher },
        { new WorkerRefusedMessage(7, 1500, "crash loop: held back"), Direction.MasterToDispatcher },
        { new WorkerGoneMessage(7, 4242), Direction.MasterToDispatcher },
        { new StatusRequestMessage(9), Direction.MasterToDispatcher },
        { new DrainMessage(), Direction.MasterToDispatcher },
        { new NeedWorkerMessage(7), Direction.DispatcherToMaster },
        { new WorkerUnresponsiveMessage(7, 4242, "did not answer a ping"), Direction.DispatcherToMaster },
        { new WorkerRetiredMessage(7, 4242), Direction.DispatcherToMaster },
        { new StatusEndMessage(9, 1, 2, 3, 4, 5), Direction.DispatcherToMaster },
        { new ConnectionMessage(long.MaxValue, 12), Direction.DispatcherToWorker },
        { new PingMessage(5), Direction.DispatcherToWorker },
        { new PongMessage(5), Direction.WorkerToDispatcher },
        { new ResyncMessage(), Direction.DispatcherToWorker },
        { new DrainMessage(), Direction.DispatcherToWorker },
        { new OpenEndMessage(12), Direction.WorkerToDispatcher },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void RoundTrips(Message m, Direction direction)
    {
        var buffer = new byte[Protocol.MaxMessage];
        int n = Protocol.Encode(m, buffer);
        Assert.Equal(m, Protocol.Decode(buffer.AsSpan(0, n), Protocol.CarriesDescriptor(m.Type), direction));
    }

    [Fact]
    public void ListsRoundTripAtTheirLargest()
    {
        var buffer = new byte[Protocol.MaxMessage];
        var closed = new ClosedMessage(Enumerable.Range(1, ClosedMessage.MaxItems).Select(i => ((long)i << 33, i)).ToArray());
        var back = (ClosedMessage)Protocol.Decode(buffer.AsSpan(0, Protocol.Encode(closed, buffer)), false, Direction.WorkerToDispatcher);
        Assert.Equal(closed.Connections, back.Connections);
        var links = new StatusLinksMessage(1, Enumerable.Range(1, StatusLinksMessage.MaxItems).Select(i => new LinkCounters(i, i, i, i, i)).ToArray());
        Assert.Equal(links.Links, ((StatusLinksMessage)Protocol.Decode(buffer.AsSpan(0, Protocol.Encode(links, buffer)), false, Direction.DispatcherToMaster)).Links);
        var open = new OpenMessage(Enumerable.Range(1, OpenMessage.MaxItems).Select(i => ((long)i << 20, i)).ToArray());
        Assert.Equal(open.Connections, ((OpenMessage)Protocol.Decode(buffer.AsSpan(0, Protocol.Encode(open, buffer)), false, Direction.WorkerToDispatcher)).Connections);
        var vhosts = new StatusVhostsMessage(1, Enumerable.Range(1, StatusVhostsMessage.MaxItems).Select(i => new VhostCounter(i, i)).ToArray());
        Assert.Equal(vhosts.Vhosts, ((StatusVhostsMessage)Protocol.Decode(buffer.AsSpan(0, Protocol.Encode(vhosts, buffer)), false, Direction.DispatcherToMaster)).Vhosts);
    }

    [Fact]
    public void RefusesWhatADirectionDoesNotAllow()
    {
        var buffer = new byte[Protocol.MaxMessage];
        // A worker may only report closed connections and answer pings.
        int n = Protocol.Encode(new NeedWorkerMessage(1), buffer);
        Assert.Throws<ProtocolException>(() => Protocol.Decode(buffer.AsSpan(0, n), false, Direction.WorkerToDispatcher));
        n = Protocol.Encode(new ConnectionMessage(1, 0), buffer);
        Assert.Throws<ProtocolException>(() => Protocol.Decode(buffer.AsSpan(0, n), true, Direction.WorkerToDispatcher));
        // A dispatcher may not hand the master a descriptor, nor send what only the master sends.
        n = Protocol.Encode(new DrainMessage(), buffer);
        Assert.Throws<ProtocolException>(() => Protocol.Decode(buffer.AsSpan(0, n), false, Direction.DispatcherToMaster));
    }

    [Fact]
    public void RefusesMissingOrUnexpectedDescriptors()
    {
        var buffer = new byte[Protocol.MaxMessage];
        int n = Protocol.Encode(new ConnectionMessage(1, 0), buffer);
        Assert.Throws<ProtocolException>(() => Protocol.Decode(buffer.AsSpan(0, n), false, Direction.DispatcherToWorker));
        n = Protocol.Encode(new PongMessage(1), buffer);
        Assert.Throws<ProtocolException>(() => Protocol.Decode(buffer.AsSpan(0, n), true, Direction.WorkerToDispatcher));
    }

    [Theory]
    [InlineData(new byte[] { })]                                   // empty
    [InlineData(new byte[] { 99 })]                                // unknown type
    [InlineData(new byte[] { 31, 1, 0 })]                          // Pong cut short
    [InlineData(new byte[] { 31, 1, 0, 0, 0, 7 })]                 // Pong with a trailing byte
    [InlineData(new byte[] { 30, 0, 0 })]                          // a Closed report of nothing
    [InlineData(new byte[] { 30, 255, 255, 1, 2 })]                // a Closed report claiming 65535 entries
    [InlineData(new byte[] { 30, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 })] // two entries announced, one sent
    public void RefusesMalformedPackets(byte[] packet)
    {
        Assert.Throws<ProtocolException>(() => Protocol.Decode(packet, false, Direction.WorkerToDispatcher));
    }

    [Fact]
    public void EncoderRefusesWhatTheDecoderWouldRefuse()
    {
        var buffer = new byte[Protocol.MaxMessage];
        Assert.Throws<ArgumentException>(() => Protocol.Encode(new ClosedMessage([]), buffer));
        Assert.Throws<ArgumentException>(() => Protocol.Encode(new ClosedMessage(new (long, int)[ClosedMessage.MaxItems + 1]), buffer));
        Assert.Throws<ArgumentException>(() => Protocol.Encode(new StatusLinksMessage(1, new LinkCounters[StatusLinksMessage.MaxItems + 1]), buffer));
    }
}
