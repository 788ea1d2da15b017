using System.Net;
using System.Net.Sockets;
using System.Text;
using ItkPs.Server;
using Xunit;
using static ItkPs.Server.Tests.DispatcherHarness;

namespace ItkPs.Server.Tests;

/// <summary>
/// A real dispatcher (the test is its master and its workers) on a TLS port and on an h2c port:
/// routing by the ClientHello's server_name and by the first :authority, the connection's kind
/// passed with it, the hello left unread in the socket for the worker's own TLS, and the
/// dispatcher's own answers (an alert, 400) reaching the client. Ports 18696-18699.
/// </summary>
[Collection(AloneCollection.Name)]
public class DispatcherTlsTests
{
    private static Socket Connect(DispatcherHarness h)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        s.Connect(new IPEndPoint(IPAddress.Loopback, h.Port));
        return s;
    }

    private static byte[] HelloFor(string? name) => name is null ? ClientHelloTests.Hello() : ClientHelloTests.Hello((0, ClientHelloTests.ServerNameList((name, 0))));

    private static (ConnectionMessage Message, Socket Client) Passed(DispatcherHarness h, int pool)
    {
        var w = h.WaitForWorker(pool);
        Assert.True(w.Received.TryTake(out var got, 10_000), $"pool {pool}'s worker got no connection");
        return got;
    }

    private static byte[] ReadAll(Socket s, int count)
    {
        s.Blocking = true; // a passed descriptor comes non-blocking (accept4 SOCK_NONBLOCK)
        s.ReceiveTimeout = 5000;
        var buffer = new byte[count];
        int n = 0;
        while (n < count) { int r = s.Receive(buffer, n, count - n, SocketFlags.None); if (r == 0) break; n += r; }
        return buffer[..n];
    }

    [Fact]
    public void RoutesByServerNameAndLeavesTheHelloUnreadForTheWorker()
    {
        using var h = new DispatcherHarness(3, _ => Mode.Hold, tls: true, port: 18696);
        var hello = HelloFor("V2.Test.");
        using var client = Connect(h);
        client.Send(hello);
        var (m, passed) = Passed(h, 2);
        Assert.Equal((ConnectionKind.Tls, 1), (m.Kind, m.Vhost));
        Assert.Equal(hello, ReadAll(passed, hello.Length)); // peeked, never read: the worker's OpenSSL gets every byte
        passed.Dispose();
    }

    [Fact]
    public void NoServerNameOrAnUnknownOneGoesToTheFirstVhost()
    {
        using var h = new DispatcherHarness(2, _ => Mode.Hold, tls: true, port: 18697);
        foreach (var name in new string?[] { null, "nobody.test" })
        {
            using var client = Connect(h);
            client.Send(HelloFor(name));
            var (m, passed) = Passed(h, 1);
            Assert.Equal((ConnectionKind.Tls, 0), (m.Kind, m.Vhost));
            passed.Dispose();
        }
    }

    [Fact]
    public void AHelloInOneByteRecordsSentByteByByteIsRoutedWhileAnotherIsServed()
    {
        // A head timeout far beyond the trickle: Thread.Sleep(1) can take much longer on a loaded machine.
        using var h = new DispatcherHarness(2, pool => pool == 1 ? Mode.Hold : Mode.Serve, tls: true, port: 18698, headTimeoutSeconds: 30);
        var split = ClientHelloTests.Reframe(HelloFor("v1.test"), _ => 1);
        using var slow = Connect(h);
        for (int i = 0; i < 40; i++) slow.Send(split, i, 1, SocketFlags.None);
        // meanwhile another client is routed at once
        using (var other = Connect(h))
        {
            other.Send(HelloFor("v2.test"));
            var w2 = h.WaitForWorker(2);
            Assert.True(w2.Received.TryTake(out var got, 5000));
            Assert.Equal(ConnectionKind.Tls, got.Message.Kind);
        }
        for (int i = 40; i < split.Length; i += 7) { slow.Send(split, i, Math.Min(7, split.Length - i), SocketFlags.None); Thread.Sleep(1); }
        var (m, passed) = Passed(h, 1);
        Assert.Equal(0, m.Vhost);
        Assert.Equal(split, ReadAll(passed, split.Length));
        passed.Dispose();
    }

    [Fact]
    public void AMalformedHelloGetsAnAlertAndPlainHttpA400()
    {
        using var h = new DispatcherHarness(1, tls: true, port: 18699);
        using (var bad = Connect(h))
        {
            var hello = HelloFor("v1.test");
            hello[5] = 2; // a ServerHello where a ClientHello belongs
            bad.Send(hello);
            Assert.Equal(TlsHello.Alert(TlsHello.UnexpectedMessage), ReadAll(bad, 7));
        }
        using (var plain = Connect(h))
        {
            plain.Send("GET / HTTP/1.1\r\nHost: v1.test\r\n\r\n"u8);
            Assert.StartsWith("HTTP/1.1 400 Bad Request", StatusLine(plain));
        }
        Assert.False(h.Workers.ContainsKey(1), "nothing was routed");
        Assert.False(h.DispatcherEnded);
    }

    private static byte[] Frame(byte type, byte flags, int stream, byte[] payload) =>
        [(byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, type, flags, 0, 0, 0, (byte)stream, .. payload];

    [Fact]
    public void H2cIsRoutedByTheFirstAuthorityAndAClientWaitingForSettingsGetsTheFirstVhost()
    {
        using var h = new DispatcherHarness(2, _ => Mode.Hold, h2c: true, port: 18695);
        byte[] settings = Frame(4, 0, 0, []);
        byte[] block = [0x82, 0x86, 0x84, 0x41, 7, .. Encoding.ASCII.GetBytes("v2.test")];
        using (var c = Connect(h))
        {
            c.Send([.. H2cPreface.Preface, .. settings, .. Frame(1, 0x5, 1, block)]);
            var (m, passed) = Passed(h, 2);
            Assert.Equal((ConnectionKind.H2c, 1), (m.Kind, m.Vhost));
            passed.Dispose();
        }
        using (var waiting = Connect(h))
        {
            waiting.Send([.. H2cPreface.Preface, .. settings]); // and nothing more until the server speaks
            var (m, passed) = Passed(h, 1);
            Assert.Equal((ConnectionKind.H2c, 0), (m.Kind, m.Vhost));
            passed.Dispose();
        }
        using (var http1 = Connect(h))
        {
            http1.Send("POST / HTTP/1.1\r\nHost: v2.test\r\nContent-Length: 0\r\n\r\n"u8); // starts with P, is not the preface
            var (m, passed) = Passed(h, 2);
            Assert.Equal(ConnectionKind.Http1, m.Kind);
            passed.Dispose();
        }
    }
}

/// <summary>
/// Tests that run after the parallel ones, alone: a dispatcher in the test process shares the
/// descriptor table with every other test, and these measure what a client sees while another
/// is routed (a close(2) elsewhere in the process of a number that was since reused would show
/// here as a connection never routed).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "alone";
}
