using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>Sections merged as Apache merges them: which handler, which Options, which Require.</summary>
public class RequestPolicyTests
{
    private const string Vhost = """
        Options -Indexes
        AddHandler cgi-script .cgi
        <VirtualHost 127.0.0.1:80>
            ServerName a.test
            DocumentRoot /srv/a
            ScriptAlias /cgi-bin/ /srv/a-cgi/
            <Directory /srv/a>
                Require all granted
            </Directory>
            <Directory /srv/a/run>
                Options +ExecCGI
                <FilesMatch "\.sh$">
                    SetHandler cgi-script
                </FilesMatch>
            </Directory>
            <Directory /srv/a/priv*>
                Require valid-user
            </Directory>
            <FilesMatch \.php$>
                SetHandler application/x-httpd-php
            </FilesMatch>
            <Files "fpm-*.php">
                SetHandler "proxy:unix:/run/php/a.sock|fcgi://localhost"
            </Files>
            <Location /locked>
                Require all denied
            </Location>
        </VirtualHost>
        """;

    private static (ServerConfig Config, VirtualHost Vh) Read()
    {
        using var dir = new TempDir();
        string file = dir.Write("v.conf", Vhost);
        var c = new ConfigReader().ReadFiles("main", [file]);
        Assert.Empty(c.Errors);
        return (c, c.VirtualHosts[0]);
    }

    private static RequestPolicy For(string file, string url)
    {
        var (c, vh) = Read();
        return RequestPolicy.For(c.Directives, c.Directories, vh, file, url);
    }

    [Theory]
    [InlineData("/srv/a/index.html", "/index.html", HandlerKind.Static, false)]
    [InlineData("/srv/a/x.php", "/x.php", HandlerKind.Php, false)]
    [InlineData("/srv/a/fpm-1.php", "/fpm-1.php", HandlerKind.FastCgiProxy, false)]
    [InlineData("/srv/a/t.cgi", "/t.cgi", HandlerKind.Cgi, false)]
    [InlineData("/srv/a/run/t.cgi", "/run/t.cgi", HandlerKind.Cgi, true)]
    [InlineData("/srv/a/run/t.sh", "/run/t.sh", HandlerKind.Cgi, true)]
    [InlineData("/srv/a/t.sh", "/t.sh", HandlerKind.Static, false)]
    [InlineData("/srv/a/t.cgi.txt", "/t.cgi.txt", HandlerKind.Cgi, false)]
    public void PicksTheHandlerAndExecCgi(string file, string url, HandlerKind kind, bool exec)
    {
        var p = For(file, url);
        Assert.Equal(kind, p.HandlerFor(Path.GetFileName(file)).Kind);
        Assert.Equal(exec, p.ExecCgi);
        Assert.DoesNotContain("Indexes", p.Options);
    }

    [Fact]
    public void TheFpmSocketIsTheHandlersTarget()
    {
        Assert.Equal("/run/php/a.sock", For("/srv/a/fpm-2.php", "/fpm-2.php").HandlerFor("fpm-2.php").Target);
    }

    [Theory]
    [InlineData("/srv/a/page.html", "/page.html", "all granted")]
    [InlineData("/srv/a/private/page.html", "/private/page.html", "valid-user")]
    [InlineData("/srv/a/private2/x/page.html", "/private2/x/page.html", "valid-user")]
    [InlineData("/srv/a/locked/page.html", "/locked/page.html", "all denied")]
    public void TheMostSpecificRequireWins(string file, string url, string require)
    {
        var p = For(file, url);
        Assert.Equal(require, string.Join(' ', Assert.Single(p.Requires).Args));
    }

    [Theory]
    [InlineData("/cgi-bin/env.cgi", "/env.cgi")]
    [InlineData("/cgi-bin/", "/")]
    [InlineData("/cgi-bin/sub/run/extra", "/sub/run/extra")]
    public void ScriptAliasTakesItsPrefix(string url, string rest)
    {
        var (c, vh) = Read();
        var m = RequestPolicy.FindScriptAlias(c.Directives, vh, url);
        Assert.NotNull(m);
        Assert.Equal("/srv/a-cgi/", m!.Directory);
        Assert.Equal(rest, m.Rest);
        Assert.Null(RequestPolicy.FindScriptAlias(c.Directives, vh, "/cgi-binary"));
    }

    [Theory]
    [InlineData("Options All", true)]
    [InlineData("Options None", false)]
    [InlineData("Options ExecCGI", true)]
    [InlineData("Options +ExecCGI -ExecCGI", false)]
    public void OptionsAbsoluteAndRelative(string line, bool exec)
    {
        using var dir = new TempDir();
        string file = dir.Write("v.conf", $"<VirtualHost *:80>\nServerName x\nDocumentRoot /x\n<Directory /x>\n{line}\n</Directory>\n</VirtualHost>\n");
        var c = new ConfigReader().ReadFiles("main", [file]);
        Assert.Equal(exec, RequestPolicy.For([], [], c.VirtualHosts[0], "/x/a.cgi", "/a.cgi").ExecCgi);
    }

    [Fact]
    public void NestingErrorsNameTheLine()
    {
        using var dir = new TempDir();
        string file = dir.Write("v.conf", "<VirtualHost *:80>\nServerName x\n<Location /a>\n<Directory /x>\n</Directory>\n</Location>\n<FilesMatch \"(\">\n</FilesMatch>\n</VirtualHost>\n");
        var errors = new ConfigReader().ReadFiles("main", [file]).Errors.ToList();
        Assert.Contains(errors, e => e.Line == 4 && e.Message.Contains("cannot be nested in <Location>"));
        Assert.Contains(errors, e => e.Line == 7 && e.Message.Contains("is not a regular expression"));
    }

    [Fact]
    public void WhatItkdDoesNotRunIsSaidWithTheLine()
    {
        using var dir = new TempDir();
        string file = dir.Write("v.conf", "<VirtualHost *:80>\nServerName x\n<Directory /x>\nRequire host example.com\nAuthType Digest\nSetHandler server-status\nAddHandler cgi-script\n</Directory>\n</VirtualHost>\n");
        var d = new ConfigReader().ReadFiles("main", [file]).Diagnostics;
        Assert.Contains(d, x => x.Severity == DiagnosticSeverity.Warning && x.Line == 4 && x.Message.Contains("never grants access"));
        Assert.Contains(d, x => x.Severity == DiagnosticSeverity.Warning && x.Line == 5 && x.Message.Contains("Basic only"));
        Assert.Contains(d, x => x.Severity == DiagnosticSeverity.Warning && x.Line == 6 && x.Message.Contains("served as they are"));
        Assert.Contains(d, x => x.Severity == DiagnosticSeverity.Error && x.Line == 7 && x.Message.Contains("one or more extensions"));
        string vhostLevel = dir.Write("w.conf", "<VirtualHost *:80>\nServerName x\nRequire valid-user\n</VirtualHost>\n");
        Assert.Contains(new ConfigReader().ReadFiles("main", [vhostLevel]).Diagnostics, x => x.Line == 3 && x.Message.Contains("Apache refuses it here"));
    }
}
