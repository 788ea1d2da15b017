using System.Diagnostics;
using System.Text;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>Passwords as the real htpasswd tool writes them, and Require as Apache evaluates it.</summary>
public class BasicAuthTests
{
    /// <summary>A line from the real htpasswd (apache2-utils): -n prints it, -b takes the password.</summary>
    private static string RealHtpasswd(string flag, string user, string password)
    {
        var psi = new ProcessStartInfo("htpasswd") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-n", "-b", flag, user, password }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string line = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return line;
    }

    [Theory]
    [InlineData("-B", "$2y$")]
    [InlineData("-m", "$apr1$")]
    [InlineData("-s", "{SHA}")]
    public void VerifiesEachFormatHtpasswdWrites(string flag, string prefix)
    {
        foreach (var password in new[] { "s3cret", "", "päss wörd:with colon", new string('x', 70) })
        {
            if (flag == "-B" && password.Length > 72) continue;
            string line = RealHtpasswd(flag, "alice", password);
            string hash = line[(line.IndexOf(':') + 1)..];
            Assert.StartsWith(prefix, hash);
            Assert.True(Htpasswd.Verify(password, hash), $"{flag} '{password}' should verify against {hash}");
            Assert.False(Htpasswd.Verify(password + "x", hash));
            Assert.False(Htpasswd.Verify("S3cret", hash));
        }
    }

    [Fact]
    public void Apr1MatchesTheRealToolForItsSalt()
    {
        string line = RealHtpasswd("-m", "bob", "hunter2");
        string hash = line[(line.IndexOf(':') + 1)..];
        string salt = hash.Split('$')[2];
        Assert.Equal(hash, Apr1.Hash("hunter2", salt));
    }

    [Fact]
    public void RefusesUnknownFormats()
    {
        Assert.False(Htpasswd.Verify("pw", "pw"));          // plain text: Apache refuses it on Linux
        Assert.False(Htpasswd.Verify("pw", "$9$whatever"));
        Assert.False(Htpasswd.Verify("pw", "$apr1$nosalt"));
    }

    private static RequestPolicy Policy(TempDir dir, string users, params string[] directives)
    {
        string file = dir.Write("htpasswd", users);
        string text = $"<VirtualHost 127.0.0.1:80>\nServerName a.test\nDocumentRoot {dir.Path}\n<Directory {dir.Path}>\nAuthType Basic\nAuthName \"Members only\"\nAuthUserFile {file}\n{string.Join('\n', directives)}\n</Directory>\n</VirtualHost>\n";
        string conf = dir.Write("v.conf", text);
        var config = new ConfigReader().ReadFiles("main", [conf]);
        Assert.Empty(config.Errors);
        return RequestPolicy.For([], [], config.VirtualHosts[0], Path.Combine(dir.Path, "x.html"), "/x.html");
    }

    private static string Basic(string user, string pw) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{pw}"));

    [Fact]
    public void RequireValidUserAndRequireUser()
    {
        using var dir = new TempDir();
        string users = RealHtpasswd("-s", "alice", "a-pw") + "\n" + RealHtpasswd("-m", "bob", "b-pw") + "\n";
        var auth = new BasicAuth();

        var valid = Policy(dir, users, "Require valid-user");
        Assert.Equal(401, auth.Check(valid, null).Status);
        Assert.Equal(401, auth.Check(valid, Basic("alice", "wrong")).Status);
        Assert.Equal(401, auth.Check(valid, Basic("carol", "a-pw")).Status);
        Assert.Equal(401, auth.Check(valid, "Basic !!!").Status);
        Assert.Equal("alice", auth.Check(valid, Basic("alice", "a-pw")).User);
        Assert.True(auth.Check(valid, Basic("bob", "b-pw")).Granted);

        var onlyBob = Policy(dir, users, "Require user bob");
        Assert.Equal(401, auth.Check(onlyBob, Basic("alice", "a-pw")).Status);
        Assert.True(auth.Check(onlyBob, Basic("bob", "b-pw")).Granted);
        Assert.Equal("Basic realm=\"Members only\"", BasicAuth.Challenge(onlyBob));
    }

    [Fact]
    public void RequireAllAndMissingSettings()
    {
        using var dir = new TempDir();
        var auth = new BasicAuth();
        Assert.True(auth.Check(Policy(dir, "", "Require all granted"), null).Granted);
        Assert.Equal(403, auth.Check(Policy(dir, "", "Require all denied"), Basic("a", "b")).Status);
        var noFile = new RequestPolicy();
        Assert.True(auth.Check(noFile, null).Granted); // no Require anywhere: granted
    }

    [Fact]
    public void RereadsTheFileWhenItChanges()
    {
        using var dir = new TempDir();
        var auth = new BasicAuth();
        var p = Policy(dir, RealHtpasswd("-s", "alice", "one") + "\n", "Require valid-user");
        Assert.True(auth.Check(p, Basic("alice", "one")).Granted);
        File.WriteAllText(p.AuthUserFile!, RealHtpasswd("-s", "alice", "two-longer") + "\n");
        Assert.Equal(401, auth.Check(p, Basic("alice", "one")).Status);
        Assert.True(auth.Check(p, Basic("alice", "two-longer")).Granted);
    }
}
