using ItkPs.Server.Scripts;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>What PHP gets from an Authorization header, as PHP's php_handle_auth_data derives it under mod_php.</summary>
public sealed class PhpAuthDataTests
{
    private static Dictionary<string, string> Of(string header) => CgiEnvironment.PhpAuthData(header).ToDictionary(kv => kv.Key, kv => kv.Value);

    [Theory]
    [InlineData("Basic YWxpY2U6cHc=", "alice", "pw")]
    [InlineData("basic YWxpY2U6cDp3", "alice", "p:w")]          // any case; split at the first ':'
    [InlineData("Basic YWxpY2U6cH%cw==", "alice", "pw0")]       // lenient: '%' skipped, the groups go on
    [InlineData("Basic YWxpY2U6", "alice", "")]
    [InlineData("Basic OnB3", "", "pw")]
    public void BasicGivesUserAndPassword(string header, string user, string password)
    {
        var d = Of(header);
        Assert.Equal(user, d["PHP_AUTH_USER"]);
        Assert.Equal(password, d["PHP_AUTH_PW"]);
        Assert.False(d.ContainsKey("PHP_AUTH_DIGEST"));
    }

    [Fact]
    public void ANulEndsTheUserAsPhpsCStringsDo()
    {
        // "al\0x:pw"
        var d = Of("Basic " + Convert.ToBase64String("al\0x:pw"u8.ToArray()));
        Assert.Equal("al", d["PHP_AUTH_USER"]);
        Assert.Equal("pw", d["PHP_AUTH_PW"]);
    }

    [Theory]
    [InlineData("Basic bm9jb2xvbg==")]   // "nocolon": no user at all
    [InlineData("Bearer abc")]
    [InlineData("Basic ")]
    public void WithoutUserAndPasswordNothingIsSet(string header) => Assert.Empty(Of(header));

    [Fact]
    public void DigestIsHandedOverAsItCame()
    {
        var d = Of("Digest username=\"dave\", realm=\"r\"");
        Assert.Equal("username=\"dave\", realm=\"r\"", d["PHP_AUTH_DIGEST"]);
        Assert.False(d.ContainsKey("PHP_AUTH_USER"));
    }
}
