using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ItkPs.Server;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>
/// h2c with prior knowledge as the dispatcher reads it: RFC 7541's own examples for the HPACK
/// decoder (with and without Huffman), the dynamic table, and the first flight of real clients
/// (curl's nghttp2, .NET's HttpClient) captured from a loopback socket, prefix by prefix.
/// </summary>
public class H2cPrefaceTests
{
    private const int CurlPort = 18693, DotNetPort = 18694;

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    [Fact]
    public void Rfc7541C3RequestWithoutHuffman()
    {
        Assert.True(Hpack.TryFindAuthority(Hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"), out var authority));
        Assert.Equal("www.example.com", authority);
    }

    [Fact]
    public void Rfc7541C4RequestWithHuffman()
    {
        Assert.True(Hpack.TryFindAuthority(Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), out var authority));
        Assert.Equal("www.example.com", authority);
    }

    [Fact]
    public void Rfc7541C4HuffmanStringsDecode()
    {
        Assert.True(Hpack.Huffman(Hex("a8eb 1064 9cbf"), out var s)); // C.4.2: no-cache
        Assert.Equal("no-cache", s);
        Assert.True(Hpack.Huffman(Hex("25a8 49e9 5ba9 7d7f"), out s)); // C.4.3: custom-key
        Assert.Equal("custom-key", s);
        Assert.True(Hpack.Huffman(Hex("25a8 49e9 5bb8 e8b4 bf"), out s)); // custom-value
        Assert.Equal("custom-value", s);
    }

    [Fact]
    public void BadHuffmanPaddingIsRefused() => Assert.False(Hpack.Huffman(Hex("f1e3 c2e5 f23a 6ba0 ab90 f400"), out _));

    [Fact]
    public void AnEntryAddedToTheDynamicTableCanBeReferencedInTheSameBlock()
    {
        // a custom header added with indexing, then :authority as a literal whose value... and an indexed reference to entry 62
        var block = Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572") // custom-key: custom-header, indexed
            .Concat(Hex("41 06 612e 7465 7374")) // :authority: a.test, indexed (becomes 62; custom-key moves to 63)
            .Concat(Hex("be bf")).ToArray();      // 62 and 63 referenced
        Assert.True(Hpack.TryFindAuthority(block, out var authority));
        Assert.Equal("a.test", authority);
    }

    [Fact]
    public void HostIsTakenWhenThereIsNoAuthority()
    {
        Assert.True(Hpack.TryFindAuthority(Hex("8286 84").Concat(Hex("66 06 622e 7465 7374")).ToArray(), out var authority));
        Assert.Equal("b.test", authority);
    }

    [Theory]
    [InlineData("80")]          // index 0
    [InlineData("ff ff ff ff ff")] // an integer that never ends
    [InlineData("c0")]          // dynamic index 65 with an empty table
    [InlineData("41 0f 7777")]  // a string shorter than its length
    [InlineData("3f e2 1f")]    // a table size update to 4097, above the 4096 our SETTINGS allow
    public void InvalidBlocksAreRefused(string hex) => Assert.False(Hpack.TryFindAuthority(Hex(hex), out _));

    [Fact]
    public void RandomBlocksNeverThrow()
    {
        var rng = new Random(3);
        for (int i = 0; i < 20000; i++)
        {
            var b = new byte[rng.Next(0, 64)];
            rng.NextBytes(b);
            Hpack.TryFindAuthority(b, out _);
            H2cPreface.Parse([.. H2cPreface.Preface, .. b], out _);
        }
    }

    [Fact]
    public void AnHttp1RequestIsNotThePreface()
    {
        Assert.Equal(PrefaceState.NotH2, H2cPreface.Parse("POST / HTTP/1.1\r\n"u8, out _));
        Assert.Equal(PrefaceState.NotH2, H2cPreface.Parse("PRI * HTTP/1.1\r\n"u8, out _));
        Assert.Equal(PrefaceState.Incomplete, H2cPreface.Parse("PRI * HTTP/2"u8, out _));
    }

    [Fact]
    public void CurlsFirstFlightGivesItsAuthorityAndEveryPrefixWaits()
    {
        var bytes = Capture(CurlPort, () =>
        {
            var p = Process.Start(new ProcessStartInfo("curl", ["-s", "-m", "5", "--http2-prior-knowledge", "-H", "Host: a.itks.test", $"http://127.0.0.1:{CurlPort}/x"])
            { RedirectStandardOutput = true, RedirectStandardError = true })!;
            return () => { try { p.Kill(); } catch (InvalidOperationException) { } p.WaitForExit(); };
        });
        Assert.Equal(PrefaceState.Complete, H2cPreface.Parse(bytes, out var authority));
        Assert.Equal("a.itks.test", authority);
        for (int n = 0; n < bytes.Length; n++)
            Assert.True(H2cPreface.Parse(bytes.AsSpan(0, n), out _) == PrefaceState.Incomplete, $"prefix of {n} bytes");
    }

    [Fact]
    public void DotNetsFirstFlightGivesItsAuthority()
    {
        var bytes = Capture(DotNetPort, () =>
        {
            var handler = new SocketsHttpHandler
            {
                // b.itks.test resolves nowhere: connect to the capture socket, keep the name as :authority
                ConnectCallback = async (_, ct) =>
                {
                    var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, DotNetPort), ct);
                    return new NetworkStream(s, ownsSocket: true);
                },
            };
            var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
            var request = new HttpRequestMessage(HttpMethod.Get, $"http://b.itks.test:{DotNetPort}/y") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            var send = http.SendAsync(request);
            return () => { http.Dispose(); try { send.Wait(1000); } catch (AggregateException) { } };
        });
        Assert.Equal(PrefaceState.Complete, H2cPreface.Parse(bytes, out var authority));
        Assert.Equal($"b.itks.test:{DotNetPort}", authority);
    }

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
            while (H2cPreface.Parse(buffer.AsSpan(0, n), out _) == PrefaceState.Incomplete)
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
}
