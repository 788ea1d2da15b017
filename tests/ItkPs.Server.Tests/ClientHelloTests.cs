using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using ItkPs.Server;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>
/// The dispatcher's ClientHello reader: real hellos from OpenSSL and .NET (captured from a loopback
/// socket), every prefix of them, the same hellos cut into 1-byte and uneven records, and the
/// malformed ones a hostile client sends. Whatever the bytes, it answers and never throws.
/// </summary>
public class ClientHelloTests
{
    // Ports of this suite's own range (18690-18699), loopback only.
    private const int OpenSslPort = 18691, DotNetPort = 18692;

    private static readonly Lazy<byte[]> OpenSslHello = new(() => Capture(OpenSslPort, () =>
    {
        var psi = new ProcessStartInfo("openssl", ["s_client", "-connect", $"127.0.0.1:{OpenSslPort}", "-servername", "a.itks.test", "-alpn", "h2,http/1.1"])
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        var p = Process.Start(psi)!;
        return () => { try { p.Kill(); } catch (InvalidOperationException) { } p.WaitForExit(); };
    }));

    private static readonly Lazy<byte[]> DotNetHello = new(() => Capture(DotNetPort, () =>
    {
        var client = new TcpClient();
        client.Connect(IPAddress.Loopback, DotNetPort);
        var ssl = new SslStream(client.GetStream());
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "B.ITKS.TEST",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        return () => { client.Dispose(); try { handshake.Wait(2000); } catch (AggregateException) { } };
    }));

    /// <summary>Listens on a loopback port, lets a real client connect, and returns the bytes it sent first.</summary>
    private static byte[] Capture(int port, Func<Action> client)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        try
        {
            var stop = client();
            using var server = listener.AcceptTcpClient();
            server.ReceiveTimeout = 5000;
            var buffer = new byte[65536];
            int n = 0;
            // read until the hello is whole (the parser itself says when)
            while (TlsHello.Parse(buffer.AsSpan(0, n), out _, out _) == HelloState.Incomplete)
            {
                int r = server.GetStream().Read(buffer, n, buffer.Length - n);
                if (r == 0) break;
                n += r;
            }
            stop();
            return buffer[..n];
        }
        finally { listener.Stop(); }
    }

    public static IEnumerable<object[]> RealHellos() => [["openssl"], ["dotnet"]];
    private static byte[] Real(string which) => which == "openssl" ? OpenSslHello.Value : DotNetHello.Value;

    [Theory, MemberData(nameof(RealHellos))]
    public void ReadsServerNameAndAlpnOfARealClientHello(string which)
    {
        var hello = Real(which);
        Assert.Equal(HelloState.Complete, TlsHello.Parse(hello, out var info, out _));
        Assert.Equal(which == "openssl" ? "a.itks.test" : "B.ITKS.TEST", info!.ServerName); // raw: the selector normalises
        Assert.Equal(["h2", "http/1.1"], info.Alpn);
    }

    [Theory, MemberData(nameof(RealHellos))]
    public void EveryStrictPrefixWaitsForMore(string which)
    {
        var hello = Real(which);
        for (int n = 0; n < hello.Length; n++)
            Assert.True(TlsHello.Parse(hello.AsSpan(0, n), out _, out _) == HelloState.Incomplete, $"prefix of {n} bytes");
    }

    [Theory, MemberData(nameof(RealHellos))]
    public void OneByteRecordsAreReassembledAndEveryPrefixOfThemWaits(string which)
    {
        var split = Reframe(Real(which), _ => 1);
        Assert.Equal(HelloState.Complete, TlsHello.Parse(split, out var info, out _));
        Assert.Equal(["h2", "http/1.1"], info!.Alpn);
        for (int n = 0; n < split.Length; n++)
            Assert.True(TlsHello.Parse(split.AsSpan(0, n), out _, out _) == HelloState.Incomplete, $"prefix of {n} bytes");
    }

    [Fact]
    public void UnevenRecordsWithEmptyOnesBetweenAreReassembled()
    {
        var rng = new Random(7);
        for (int round = 0; round < 50; round++)
        {
            var split = Reframe(OpenSslHello.Value, i => rng.Next(0, 4) == 0 ? 0 : rng.Next(1, 300));
            Assert.Equal(HelloState.Complete, TlsHello.Parse(split, out var info, out _));
            Assert.Equal("a.itks.test", info!.ServerName);
        }
    }

    [Fact]
    public void TheFirstFiveBytesAloneWait() =>
        Assert.Equal(HelloState.Incomplete, TlsHello.Parse(OpenSslHello.Value.AsSpan(0, 5), out _, out _));

    [Fact]
    public void AnSslV2StyleHeaderIsRefusedWithProtocolVersion()
    {
        byte[] v2 = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10];
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(v2, out _, out byte alert));
        Assert.Equal(TlsHello.ProtocolVersion, alert);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("G")]
    [InlineData("PRI * HTTP/2.0\r\n")]
    public void PlainHttpOnATlsPortIsRecognisedFromTheFirstByte(string request) =>
        Assert.Equal(HelloState.PlainHttp, TlsHello.Parse(Encoding.ASCII.GetBytes(request), out _, out _));

    [Fact]
    public void AnAlertBetweenFragmentsIsMalformed()
    {
        var split = Reframe(OpenSslHello.Value, _ => 100);
        int second = 5 + 100;
        byte[] alert = [21, 3, 3, 0, 2, 1, 0];
        var bytes = split[..second].Concat(alert).Concat(split[second..]).ToArray();
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(bytes, out _, out byte a));
        Assert.Equal(TlsHello.UnexpectedMessage, a);
    }

    [Fact]
    public void AnOversizedRecordIsRefusedBeforeItArrives()
    {
        byte[] header = [22, 3, 1, 0xff, 0xff];
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(header, out _, out byte alert));
        Assert.Equal(TlsHello.RecordOverflow, alert);
    }

    [Fact]
    public void AHandshakeThatIsNotAClientHelloIsMalformed()
    {
        var bytes = OpenSslHello.Value.ToArray();
        bytes[5] = 2; // ServerHello
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(bytes, out _, out byte alert));
        Assert.Equal(TlsHello.UnexpectedMessage, alert);
    }

    [Fact]
    public void AHelloLongerThanTheBoundIsRefusedFromItsHeader()
    {
        byte[] bytes = [22, 3, 1, 0, 4, 1, 0x01, 0x00, 0x00]; // a 64 KB ClientHello announced
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(bytes, out _, out byte alert));
        Assert.Equal(TlsHello.HandshakeFailure, alert);
    }

    [Fact]
    public void TwoHostNamesGiveTheFirstAsOpenSslReadsIt()
    {
        var sni = ServerNameList(("a.itks.test", 0), ("b.itks.test", 0));
        Assert.Equal(HelloState.Complete, TlsHello.Parse(Hello((0, sni)), out var info, out _));
        Assert.Equal("a.itks.test", info!.ServerName);
    }

    [Fact]
    public void ANonAsciiNameIsReadNotThrown()
    {
        var sni = ServerNameList(("bücher.test", 0));
        Assert.Equal(HelloState.Complete, TlsHello.Parse(Hello((0, sni)), out var info, out _));
        Assert.NotNull(info!.ServerName);
    }

    [Fact]
    public void ANameWithANulByteIsRefused()
    {
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(Hello((0, ServerNameList(("a.test\0b.test", 0)))), out _, out byte alert));
        Assert.Equal(TlsHello.UnrecognizedName, alert);
    }

    [Fact]
    public void DuplicateExtensionsAreRefused()
    {
        var sni = ServerNameList(("a.itks.test", 0));
        Assert.Equal(HelloState.Malformed, TlsHello.Parse(Hello((0, sni), (0, sni)), out _, out byte alert));
        Assert.Equal(TlsHello.IllegalParameter, alert);
    }

    [Fact]
    public void EncryptedClientHelloIsRoutedByTheOuterName()
    {
        var ech = new byte[200];
        new Random(1).NextBytes(ech);
        Assert.Equal(HelloState.Complete, TlsHello.Parse(Hello((0xfe0d, ech), (0, ServerNameList(("public.itks.test", 0)))), out var info, out _));
        Assert.Equal("public.itks.test", info!.ServerName);
    }

    [Fact]
    public void AHelloWithoutExtensionsHasNoName()
    {
        Assert.Equal(HelloState.Complete, TlsHello.Parse(Hello(), out var info, out _));
        Assert.Null(info!.ServerName);
        Assert.Empty(info.Alpn);
    }

    [Fact]
    public void MutatedHellosNeverThrow()
    {
        var rng = new Random(42);
        var original = Reframe(OpenSslHello.Value, i => 37);
        for (int i = 0; i < 20000; i++)
        {
            var b = original.ToArray();
            for (int k = rng.Next(1, 6); k > 0; k--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            int cut = rng.Next(b.Length + 1);
            var state = TlsHello.Parse(b.AsSpan(0, cut), out var info, out byte alert);
            Assert.True(state != HelloState.Malformed || alert != 0);
            Assert.True(state != HelloState.Complete || info is not null);
        }
    }

    // ---------------------------------------------------------------- building hellos

    /// <summary>The handshake message of a record, cut into records of the sizes <paramref name="size"/> gives (0: an empty record).</summary>
    internal static byte[] Reframe(byte[] hello, Func<int, int> size)
    {
        int length = BinaryPrimitives.ReadUInt16BigEndian(hello.AsSpan(3, 2));
        var message = hello.AsSpan(5, length).ToArray();
        var output = new List<byte>();
        for (int pos = 0, i = 0; pos < message.Length; i++)
        {
            int n = Math.Min(size(i), message.Length - pos);
            output.AddRange([22, 3, 1, (byte)(n >> 8), (byte)n]);
            output.AddRange(message.AsSpan(pos, n).ToArray());
            pos += n;
        }
        return output.ToArray();
    }

    internal static byte[] ServerNameList(params (string Name, byte Type)[] names)
    {
        var list = new List<byte>();
        foreach (var (name, type) in names)
        {
            var b = Encoding.UTF8.GetBytes(name);
            list.Add(type);
            list.AddRange([(byte)(b.Length >> 8), (byte)b.Length]);
            list.AddRange(b);
        }
        return [(byte)(list.Count >> 8), (byte)list.Count, .. list];
    }

    /// <summary>A TLS 1.2-shaped ClientHello with these extensions, in one record.</summary>
    internal static byte[] Hello(params (ushort Type, byte[] Data)[] extensions)
    {
        var body = new List<byte> { 3, 3 };
        body.AddRange(new byte[32]);
        body.Add(0);
        body.AddRange([0, 2, 0x13, 0x01]);
        body.AddRange([1, 0]);
        if (extensions.Length > 0)
        {
            var ext = new List<byte>();
            foreach (var (type, data) in extensions)
            {
                ext.AddRange([(byte)(type >> 8), (byte)type, (byte)(data.Length >> 8), (byte)data.Length]);
                ext.AddRange(data);
            }
            body.AddRange([(byte)(ext.Count >> 8), (byte)ext.Count]);
            body.AddRange(ext);
        }
        var message = new List<byte> { 1, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count };
        message.AddRange(body);
        return [22, 3, 1, (byte)(message.Count >> 8), (byte)message.Count, .. message];
    }
}
