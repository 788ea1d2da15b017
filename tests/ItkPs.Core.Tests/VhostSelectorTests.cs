using System.Net;
using ItkPs.Core.Config;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// Name-based vhost selection against a table of cases, following the rules Apache httpd
/// documents (vhosts-in-depth): best address match first, then ServerName/ServerAlias in
/// file order, then the first vhost of that address.
/// </summary>
public class VhostSelectorTests
{
    private const string Config = """
        <VirtualHost *:80>
            ServerName default80.test
        </VirtualHost>
        <VirtualHost *:80>
            ServerName shop.test
            ServerAlias www.shop.test *.shop.test
        </VirtualHost>
        <VirtualHost *:80>
            ServerName http://blog.test:80
            ServerAlias blog-?.test
        </VirtualHost>
        <VirtualHost *:80>
            ServerName other.test
            ServerAlias *.shop.test
        </VirtualHost>
        <VirtualHost 127.0.0.2:80>
            ServerName ipbased.test
        </VirtualHost>
        <VirtualHost 127.0.0.2:80>
            ServerName shop.test
        </VirtualHost>
        <VirtualHost 127.0.0.3>
            ServerName anyport.test
        </VirtualHost>
        <VirtualHost [::1]:8080 127.0.0.1:8080>
            ServerName v6.test
        </VirtualHost>
        <VirtualHost _default_:8443>
            ServerName fallback8443.test
        </VirtualHost>
        <VirtualHost *:8443>
            ServerName secure.test
        </VirtualHost>
        """;

    private static readonly VhostSelector Selector = Build();

    private static VhostSelector Build()
    {
        using var dir = new TempDir();
        string file = dir.Write("v.conf", Config);
        var config = new ConfigReader().ReadFiles(file, [file]);
        Assert.Empty(config.Diagnostics);
        return new VhostSelector(config.VirtualHosts);
    }

    [Theory]
    [InlineData("127.0.0.1", 80, "shop.test", "shop.test")]                 // ServerName
    [InlineData("127.0.0.1", 80, "SHOP.Test", "shop.test")]                 // case-insensitive
    [InlineData("127.0.0.1", 80, "shop.test:80", "shop.test")]              // port in Host
    [InlineData("127.0.0.1", 80, "shop.test.", "shop.test")]                // trailing dot
    [InlineData("127.0.0.1", 80, "www.shop.test", "shop.test")]             // exact alias
    [InlineData("127.0.0.1", 80, "img.shop.test", "shop.test")]             // wildcard alias, first vhost wins
    [InlineData("127.0.0.1", 80, "a.b.shop.test", "shop.test")]             // * spans dots, as in Apache
    [InlineData("127.0.0.1", 80, "blog.test", "blog.test")]                 // scheme and port stripped from ServerName
    [InlineData("127.0.0.1", 80, "blog-1.test", "blog.test")]               // ? wildcard
    [InlineData("127.0.0.1", 80, "blog-12.test", "default80.test")]         // ? is exactly one character
    [InlineData("127.0.0.1", 80, "unknown.test", "default80.test")]         // no match: first vhost of the address
    [InlineData("127.0.0.1", 80, null, "default80.test")]                   // HTTP/1.0 without Host
    [InlineData("127.0.0.1", 80, "", "default80.test")]                     // empty Host
    [InlineData("127.0.0.1", 80, "other.test", "other.test")]
    [InlineData("127.0.0.2", 80, "shop.test", "shop.test#ip")]              // IP-based set wins over *:80
    [InlineData("127.0.0.2", 80, "other.test", "ipbased.test")]             // name not in the IP set: first of that set
    [InlineData("127.0.0.2", 81, "x", null)]                                 // nothing on that port
    [InlineData("127.0.0.3", 9999, "whatever", "anyport.test")]             // IP without port matches every port
    [InlineData("127.0.0.3", 80, "shop.test", "anyport.test")]              // exact IP beats *:80
    [InlineData("::1", 8080, "v6.test", "v6.test")]                         // IPv6 address
    [InlineData("127.0.0.1", 8080, "[::1]:8080", "v6.test")]                // IPv6 literal Host
    [InlineData("::ffff:127.0.0.1", 8080, "v6.test", "v6.test")]            // v4-mapped local address
    [InlineData("127.0.0.1", 8443, "secure.test", "secure.test")]           // _default_ behaves like *
    [InlineData("127.0.0.1", 8443, "nope.test", "fallback8443.test")]
    [InlineData("10.9.8.7", 80, "shop.test", "shop.test")]                  // any local address for *
    public void SelectsLikeApache(string local, int port, string? host, string? expected)
    {
        var vh = Selector.Select(IPAddress.Parse(local), port, host);
        if (expected is null) { Assert.Null(vh); return; }
        Assert.NotNull(vh);
        string name = expected.EndsWith("#ip") ? expected[..^3] : expected;
        Assert.Equal(name, vh!.Name);
        if (expected.EndsWith("#ip")) Assert.Contains(vh.Addresses, a => a.Host == "127.0.0.2");
    }

    [Theory]
    [InlineData("*.example.com", "a.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("w?w.example.com", "www.example.com", true)]
    [InlineData("*", "anything", true)]
    [InlineData("a*b*c", "aXXbYYc", true)]
    [InlineData("a*b*c", "aXXbYY", false)]
    public void WildcardsMatchAsApAStrcasecmpMatch(string pattern, string text, bool match) =>
        Assert.Equal(match, VhostSelector.WildcardMatch(pattern, text));
}
