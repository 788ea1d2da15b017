using System.Text;
using ItkPs.Server;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>What the dispatcher reads from a peeked request head to pick the vhost.</summary>
public class HostHeaderTests
{
    private static string? Host(string head, out bool malformed)
    {
        var bytes = Encoding.Latin1.GetBytes(head);
        return HttpHead.Host(bytes, out malformed);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test")]
    [InlineData("GET / HTTP/1.1\r\nhOsT:   a.test:8080 \r\nAccept: */*\r\n\r\n", "a.test:8080")]
    [InlineData("GET / HTTP/1.1\r\nX-Host: b.test\r\nHost: a.test\r\n\r\n", "a.test")]
    [InlineData("GET / HTTP/1.0\r\n\r\n", null)]
    [InlineData("GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n", "b.test")]
    [InlineData("GET /index.html HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "[::1]:80")]
    public void ReadsTheHost(string head, string? host)
    {
        Assert.Equal(host, Host(head, out bool malformed));
        Assert.False(malformed);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")]
    [InlineData("GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n")]
    [InlineData("GET /\r\nHost: a.test\r\n\r\n")]
    [InlineData("GARBAGE\r\n\r\n")]
    [InlineData("GET / SPDY/3\r\nHost: a.test\r\n\r\n")]
    public void RefusesMalformedHeads(string head)
    {
        Assert.Null(Host(head, out bool malformed));
        Assert.True(malformed);
    }
}
