using System.Net;
using ItkPs.Core.Htaccess;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>ap_expr as &lt;If&gt; and Require expr use it, and the PCRE spellings .NET reads differently.</summary>
public class ExprTests
{
    private sealed class Ctx : IExprContext
    {
        public Dictionary<string, string> Vars { get; } = new(StringComparer.OrdinalIgnoreCase)
        {
            ["HTTP_HOST"] = "www.example.com", ["REQUEST_URI"] = "/blog/2024/post", ["QUERY_STRING"] = "a=1&b=2", ["HTTPS"] = "off",
            ["REQUEST_METHOD"] = "GET", ["REQUEST_FILENAME"] = "/etc/hostname",
        };
        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase) { ["User-Agent"] = "curl/8.1", ["X-Num"] = "12" };
        public string Variable(string name) => Vars.GetValueOrDefault(name) ?? "";
        public string? Function(string name, string arg) => name switch
        {
            "req" or "http" => Headers.GetValueOrDefault(arg) ?? "",
            "tolower" => arg.ToLowerInvariant(),
            _ => null,
        };
        public bool FileTest(char op, string path) => op == 'f' ? System.IO.File.Exists(path) : op == 'd' && Directory.Exists(path);
        public IPAddress? RemoteIp => IPAddress.Parse("192.168.1.20");
    }

    [Theory]
    [InlineData("%{HTTP_HOST} == 'www.example.com'", true)]
    [InlineData("%{HTTP_HOST} != 'www.example.com'", false)]
    [InlineData("%{REQUEST_URI} =~ m#^/blog/#", true)]
    [InlineData("%{REQUEST_URI} !~ /^\\/shop/", true)]
    [InlineData("%{HTTP_HOST} =~ /EXAMPLE/i", true)]
    [InlineData("%{QUERY_STRING} =~ /(^|&)b=2/ && %{HTTPS} == 'off'", true)]
    [InlineData("%{HTTPS} == 'on' || %{REQUEST_METHOD} in {'GET','HEAD'}", true)]
    [InlineData("!(%{REQUEST_METHOD} == 'GET')", false)]
    [InlineData("req('User-Agent') =~ /^curl/", true)]
    [InlineData("%{HTTP:X-Num} -ge 10", true)]
    [InlineData("%{HTTP:X-Num} -lt 10", false)]
    [InlineData("http('X-Num') -ge 10 && http('X-Num') -lt 20", true)]
    [InlineData("-f %{REQUEST_FILENAME}", true)]
    [InlineData("-d %{REQUEST_FILENAME}", false)]
    [InlineData("-n %{QUERY_STRING}", true)]
    [InlineData("-z %{QUERY_STRING}", false)]
    [InlineData("-R '192.168.1.0/24'", true)]
    [InlineData("-R '10.0.0.0/8'", false)]
    [InlineData("tolower(%{HTTP_HOST}) == 'www.example.com'", true)]
    [InlineData("'a' . 'b' == 'ab'", true)]
    [InlineData("true && !false", true)]
    [InlineData("%{HTTP_HOST} -strmatch '*.example.com'", true)]
    public void Evaluates(string text, bool expected) => Assert.Equal(expected, Expr.Parse(text).Evaluate(new Ctx()));

    [Fact]
    public void ARegexMatchKeepsItsGroupsForBackReferences()
    {
        var groups = new List<string>();
        Assert.True(Expr.Parse("%{REQUEST_URI} =~ m#^/blog/(\\d+)/(.*)$#").Evaluate(new Ctx(), groups));
        Assert.Equal(["/blog/2024/post", "2024", "post"], groups);
    }

    [Theory]
    [InlineData("%{HTTP_HOST} ==")]
    [InlineData("%{HTTP_HOST} 'x'")]
    [InlineData("(true")]
    [InlineData("%{A} =~ /unclosed")]
    [InlineData("-q %{A}")]
    public void SyntaxErrorsSayWhatWasExpected(string text)
    {
        var e = Assert.Throws<FormatException>(() => Expr.Parse(text));
        Assert.Contains(text, e.Message);
    }

    [Theory]
    [InlineData("^[[:alpha:]]+$", "abcXYZ", true)]
    [InlineData("^[[:digit:]]+$", "12a", false)]
    [InlineData("^[^[:space:]]+$", "no-space", true)]
    [InlineData("^(?P<year>[0-9]{4})$", "2024", true)]
    [InlineData("^\\Q.+*\\E$", ".+*", true)]
    [InlineData("^\\Q.+*\\E$", "xx", false)]
    [InlineData("^a++b$", "aaab", true)]
    [InlineData("^x\\hy$", "x y", true)]
    [InlineData("^[]a]+$", "]a]", true)]
    public void PcreSpellingsMatchAsInApache(string pattern, string input, bool matches) =>
        Assert.Equal(matches, PcreRegex.Match(PcreRegex.Get(pattern), input) is not null);

    [Theory]
    [InlineData("10.1.2.3", "10.0.0.0/8", true)]
    [InlineData("10.1.2.3", "10.1", true)]
    [InlineData("10.1.2.3", "10.2", false)]
    [InlineData("192.168.1.5", "192.168.1.0/255.255.255.0", true)]
    [InlineData("::1", "::1/128", true)]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1", true)]
    public void SubnetsAreReadInEveryFormApacheAccepts(string address, string subnet, bool contains)
    {
        Assert.True(Subnet.TryParse(subnet, out var net));
        Assert.Equal(contains, net!.Contains(IPAddress.Parse(address)));
    }
}
