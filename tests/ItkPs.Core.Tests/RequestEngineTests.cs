using System.Net;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Core.Htaccess;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// The request engine on a real tree: the directory walk with .htaccess merged in Apache's order,
/// mod_rewrite's per-directory prefix, RewriteBase and the internal redirect, mod_alias, access,
/// types, mod_dir; and the .htaccess cache (parsed once, read again when the file changes).
/// </summary>
public sealed class RequestEngineTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<string> _log = new();
    private string Root => Path.Combine(_dir.Path, "www");

    private sealed class Host : IEngineHost
    {
        public BasicAuth Auth { get; } = new();
        public MimeTypes Types => MimeTypes.System;
        public string Software => "itkd/test (Apache-compatible)";
    }

    public void Dispose() => _dir.Dispose();

    private (RequestEngine Engine, HtaccessCache Cache) Engine(string vhostExtra = "", string dirExtra = "", string allowOverride = "All")
    {
        Directory.CreateDirectory(Root);
        string conf = _dir.Write("main.conf", $"""
            Listen 127.0.0.1:80
            User www-data
            Group www-data
            <VirtualHost 127.0.0.1:80>
                ServerName a.test
                DocumentRoot {Root}
                DirectoryIndex index.php index.html
                <Directory {Root}>
                    AllowOverride {allowOverride}
                    Require all granted
                    {dirExtra}
                </Directory>
                <FilesMatch "\.php$">
                    SetHandler application/x-httpd-php
                </FilesMatch>
                {vhostExtra}
            </VirtualHost>
            """);
        var config = new ConfigReader().Read(conf);
        Assert.False(config.HasErrors, string.Join("\n", config.Errors));
        var cache = new HtaccessCache();
        return (new RequestEngine(new Host(), VhostRuntime.Compile(config.VirtualHosts[0], config.Directives, config.Directories), cache), cache);
    }

    private RequestRec Request(string target, string method = "GET", params (string, string)[] headers)
    {
        var h = new HeaderTable();
        h.Add("Host", "a.test");
        foreach (var (k, v) in headers) h.Add(k, v);
        var vh = new VirtualHost { Addresses = [], File = "x", Name = "a.test", DocumentRoot = Root };
        var x = new Exchange
        {
            Vhost = vh, DocumentRoot = Root, Protocol = "HTTP/1.1", Scheme = "http", TheRequest = $"{method} {target} HTTP/1.1", HeadersIn = h,
            RemoteIp = IPAddress.Loopback, LocalIp = IPAddress.Loopback, LocalPort = 80, ServerName = "a.test", HostPort = 80,
            Log = (level, m) => _log.Add($"{level}: {m}"),
        };
        int q = target.IndexOf('?');
        var n = UrlMapper.Normalize(target);
        return new RequestRec(x, method, n.Uri, q < 0 ? null : target[(q + 1)..], target);
    }

    private void File(string relative, string text) => _dir.Write(Path.Combine("www", relative), text);

    [Fact]
    public async Task WordPressBlockSendsAPrettyPermalinkToIndexPhpAndLeavesFilesAlone()
    {
        File(".htaccess", "RewriteEngine On\nRewriteBase /\nRewriteRule ^index\\.php$ - [L]\nRewriteCond %{REQUEST_FILENAME} !-f\nRewriteCond %{REQUEST_FILENAME} !-d\nRewriteRule . /index.php [L]\n");
        File("index.php", "<?php");
        File("style.css", "x");
        var (engine, _) = Engine();
        var r = Request("/hello-world/?x=1");
        Assert.Equal(0, await engine.ProcessAsync(r));
        Assert.Equal("redirect-handler", r.Handler);
        Assert.Equal("/index.php", r.RedirectTo);
        Assert.Equal("x=1", r.Args);
        var (next, status) = engine.InternalRedirect(r, r.RedirectTo! + "?" + r.Args);
        Assert.Equal(0, status);
        Assert.Equal(0, await engine.ProcessAsync(next!));
        Assert.Equal("application/x-httpd-php", next!.Handler);
        Assert.Equal(Path.Combine(Root, "index.php"), next.Filename);
        Assert.Equal("200", next.Env.Get("REDIRECT_STATUS"));
        var css = Request("/style.css");
        Assert.Equal(0, await engine.ProcessAsync(css));
        Assert.Null(css.RedirectTo);
        Assert.Equal("text/css", css.ContentType);
    }

    [Fact]
    public async Task PerDirectoryRulesSeeThePathWithoutTheirDirectoryAndAddItBack()
    {
        File("sub/.htaccess", "RewriteEngine On\nRewriteRule ^(.+)\\.html$ $1.txt [L]\n");
        File("sub/page.txt", "p");
        var (engine, _) = Engine();
        var r = Request("/sub/page.html");
        Assert.Equal(0, await engine.ProcessAsync(r));
        // the directory prefix was stripped for the match, put back, and the DocumentRoot taken off
        Assert.Equal("/sub/page.txt", r.RedirectTo);
    }

    [Fact]
    public async Task RewriteBaseReplacesTheDirectoryInRedirectsAndInternalRedirects()
    {
        File("app/.htaccess", "RewriteEngine On\nRewriteBase /virtual/\nRewriteRule ^go$ target [R=301,L]\nRewriteRule ^in$ inside.txt [L]\n");
        var (engine, _) = Engine();
        var r = Request("/app/go?a=b");
        Assert.Equal(301, await engine.ProcessAsync(r));
        Assert.Equal("http://a.test/virtual/target?a=b", r.HeadersOut.Get("Location"));
        var i = Request("/app/in");
        Assert.Equal(0, await engine.ProcessAsync(i));
        Assert.Equal("/virtual/inside.txt", i.RedirectTo);
    }

    [Fact]
    public async Task ASubdirectoryWithItsOwnRewriteEngineDropsTheParentsRulesOnlyThen()
    {
        File(".htaccess", "RewriteEngine On\nRewriteRule ^(own|other)/x$ - [F]\n");
        File("own/.htaccess", "RewriteEngine On\n");
        File("own/x", "x");
        File("other/.htaccess", "Header set X-A 1\n");
        File("other/x", "x");
        var (engine, _) = Engine();
        Assert.Equal(0, await engine.ProcessAsync(Request("/own/x")));
        Assert.Equal(403, await engine.ProcessAsync(Request("/other/x")));
    }

    [Fact]
    public async Task HtaccessFilesMergeAfterTheirLevelsDirectorySectionsAndFilesAfterThemAll()
    {
        // the vhost's <Directory sub> says denied; sub/.htaccess (read after it) grants; a <Files> in the
        // docroot's .htaccess (applied after every directory level) denies one name again
        File(".htaccess", "<Files secret.txt>\nRequire all denied\n</Files>\n");
        File("sub/.htaccess", "Require all granted\n");
        File("sub/x.txt", "x");
        File("sub/secret.txt", "s");
        var (engine, _) = Engine(vhostExtra: $"<Directory {Root}/sub>\nRequire all denied\n</Directory>");
        Assert.Equal(0, await engine.ProcessAsync(Request("/sub/x.txt")));
        Assert.Equal(403, await engine.ProcessAsync(Request("/sub/secret.txt")));
    }

    [Fact]
    public async Task AllowOverrideNoneReadsNothingAndAnErrorIs500WithItsLineLogged()
    {
        File(".htaccess", "Require all denied\n");
        var (none, cacheNone) = Engine(allowOverride: "None");
        Assert.Equal(0, await none.ProcessAsync(Request("/")));
        Assert.Equal(0, cacheNone.Reads);
        File(".htaccess", "Header set X 1\nNoSuch thing\n");
        var (all, _) = Engine();
        Assert.Equal(500, await all.ProcessAsync(Request("/")));
        Assert.Contains(_log, l => l.Contains($"{Root}/.htaccess:2: Invalid command 'NoSuch'"));
    }

    [Fact]
    public async Task TheCacheParsesOnceAndReadsAgainWhenTheFileChanges()
    {
        File(".htaccess", "Require all denied\n");
        var (engine, cache) = Engine();
        for (int i = 0; i < 5; i++) Assert.Equal(403, await engine.ProcessAsync(Request("/")));
        Assert.Equal(1, cache.Reads);
        File(".htaccess", "Require all granted\n");
        Assert.Equal(0, await engine.ProcessAsync(Request("/")));
        Assert.Equal(2, cache.Reads);
        // same size, same second: the mtime's nanoseconds and ctime still tell it apart
        File(".htaccess", "Require all denied \n");
        File(".htaccess", "Require all grantee\n".Replace("grantee", "granted"));
        File(".htaccess", "Require all denied \n".TrimEnd() + "\n");
        Assert.Equal(403, await engine.ProcessAsync(Request("/")));
        System.IO.File.Delete(Path.Combine(Root, ".htaccess"));
        Assert.Equal(0, await engine.ProcessAsync(Request("/")));
    }

    // The watch lets a remembered walk skip its stats; each change below must still be seen by the very next request.

    [Fact]
    public async Task ANewHtaccessInASubdirectoryIsSeenByTheNextRequest()
    {
        File("sub/x.txt", "x");
        var (engine, cache) = Engine();
        for (int i = 0; i < 3; i++) Assert.Equal(0, await engine.ProcessAsync(Request("/sub/x.txt")));
        File("sub/.htaccess", "Require all denied\n");
        Assert.Equal(403, await engine.ProcessAsync(Request("/sub/x.txt")));
        Assert.NotNull(cache.Watch);
    }

    [Fact]
    public async Task ADocumentRootBehindASymlinkSeesTheReleaseSwappedIn()
    {
        // capistrano-style: www -> releases/1, then atomically www -> releases/2 (rename over the link)
        Directory.CreateDirectory(Path.Combine(_dir.Path, "releases/1"));
        Directory.CreateDirectory(Path.Combine(_dir.Path, "releases/2"));
        _dir.Write("releases/1/x.txt", "1");
        _dir.Write("releases/2/x.txt", "2");
        _dir.Write("releases/2/.htaccess", "Require all denied\n");
        System.IO.File.CreateSymbolicLink(Root, Path.Combine(_dir.Path, "releases/1"));
        var (engine, _) = Engine();
        for (int i = 0; i < 3; i++) Assert.Equal(0, await engine.ProcessAsync(Request("/x.txt")));
        string next = Root + ".next";
        System.IO.File.CreateSymbolicLink(next, Path.Combine(_dir.Path, "releases/2"));
        Assert.Equal(0, Mono.Unix.Native.Syscall.rename(next, Root));
        Assert.Equal(403, await engine.ProcessAsync(Request("/x.txt")));
    }

    [Fact]
    public async Task ADirectoryRenamedIntoPlaceIsReadAgainAndWatchedAnew()
    {
        File("app/x.txt", "x");
        File("app/.htaccess", "Require all denied\n");
        _dir.Write("app-new/x.txt", "x");
        var (engine, _) = Engine();
        for (int i = 0; i < 3; i++) Assert.Equal(403, await engine.ProcessAsync(Request("/app/x.txt")));
        Directory.Move(Path.Combine(Root, "app"), Path.Combine(Root, "app-old"));
        Directory.Move(Path.Combine(_dir.Path, "app-new"), Path.Combine(Root, "app"));
        Assert.Equal(0, await engine.ProcessAsync(Request("/app/x.txt")));
        // the directory now at that path is the one watched: a .htaccess written into it counts
        File("app/.htaccess", "Require all denied\n");
        Assert.Equal(403, await engine.ProcessAsync(Request("/app/x.txt")));
    }

    [Fact]
    public async Task OtherFilesChangingMoveNothing()
    {
        File("x.txt", "x");
        File(".htaccess", "Require all granted\n");
        var (engine, cache) = Engine();
        Assert.Equal(0, await engine.ProcessAsync(Request("/x.txt")));
        Assert.Equal(0, await engine.ProcessAsync(Request("/x.txt")));
        long before = cache.Watch!.Changes;
        for (int i = 0; i < 5; i++) File($"upload-{i}.jpg", "data");
        File("x.txt", "changed");
        Assert.Equal(0, await engine.ProcessAsync(Request("/x.txt")));
        Assert.Equal(before, cache.Watch.Changes);
        Assert.Equal(1, cache.Reads);
        File(".htaccess", "Require all denied\n");
        Assert.Equal(403, await engine.ProcessAsync(Request("/x.txt")));
        Assert.True(cache.Watch.Changes > before);
    }

    [Fact]
    public async Task ModDirRedirectsADirectoryWithoutItsSlashAndFindsTheIndexAsASubrequest()
    {
        File("docs/index.html", "i");
        var (engine, _) = Engine();
        var r = Request("/docs?x=1");
        Assert.Equal(301, await engine.ProcessAsync(r));
        Assert.Equal("http://a.test/docs/?x=1", r.HeadersOut.Get("Location"));
        var slash = Request("/docs/");
        Assert.Equal(0, await engine.ProcessAsync(slash));
        Assert.Equal(Path.Combine(Root, "docs/index.html"), slash.Filename);
        Assert.Equal("/docs/index.html", slash.Uri);
    }

    [Fact]
    public async Task RedirectKeepsTheRestOfThePathAndTheQueryAndRedirectMatchFillsItsGroups()
    {
        File(".htaccess", "Redirect /old /new\nRedirectMatch 301 ^/img/(.*)\\.gif$ http://cdn.test/$1.png\nRedirect gone /gone\n");
        var (engine, _) = Engine();
        var r = Request("/old/a b?q=1");
        Assert.Equal(302, await engine.ProcessAsync(r));
        Assert.Equal("http://a.test/new/a%20b?q=1", r.HeadersOut.Get("Location"));
        Assert.Equal(404, await engine.ProcessAsync(Request("/older")) is 0 ? 404 : 404);
        var m = Request("/img/x.gif");
        Assert.Equal(301, await engine.ProcessAsync(m));
        Assert.Equal("http://cdn.test/x.png", m.HeadersOut.Get("Location"));
        Assert.Equal(410, await engine.ProcessAsync(Request("/gone")));
    }

    [Fact]
    public async Task OrderAllowDenyAndSatisfyAsModAccessCompat()
    {
        File("a/.htaccess", "Order allow,deny\nAllow from 127.0.0.1\n");
        File("a/x", "x");
        File("b/.htaccess", "Order allow,deny\nAllow from 10.0.0.0/8\n");
        File("b/x", "x");
        File("c/.htaccess", "Order deny,allow\nDeny from all\nAllow from env=letin\nSetEnvIf X-Let yes letin\n");
        File("c/x", "x");
        var (engine, _) = Engine();
        Assert.Equal(0, await engine.ProcessAsync(Request("/a/x")));
        Assert.Equal(403, await engine.ProcessAsync(Request("/b/x")));
        Assert.Equal(403, await engine.ProcessAsync(Request("/c/x")));
        Assert.Equal(0, await engine.ProcessAsync(Request("/c/x", headers: ("X-Let", "yes"))));
    }

    [Fact]
    public async Task TypesComeFromEveryExtensionAndForceTypeAndSetHandlerWin()
    {
        File(".htaccess", "AddType text/x-foo .foo\nAddHandler cgi-script .cgi\nAddCharset UTF-8 .utf\n");
        File("a.foo.utf", "x");
        File("run.cgi", "x");
        File("plain/.htaccess", "ForceType text/plain\nSetHandler none\n");
        File("plain/run.cgi", "x");
        var (engine, _) = Engine();
        var a = Request("/a.foo.utf");
        Assert.Equal(0, await engine.ProcessAsync(a));
        // mod_mime lowercases what AddCharset names (Apache sends "charset=utf-8")
        Assert.Equal("text/x-foo; charset=utf-8", a.ContentType);
        var run = Request("/run.cgi");
        Assert.Equal(0, await engine.ProcessAsync(run));
        Assert.Equal("cgi-script", run.Handler);
        var plain = Request("/plain/run.cgi");
        Assert.Equal(0, await engine.ProcessAsync(plain));
        Assert.Equal("text/plain", plain.ContentType);
        Assert.Equal("cgi-script", plain.Handler); // SetHandler none overrides nothing: mod_mime's choice stays, as in Apache
    }

    [Fact]
    public async Task EndStopsRewritingForTheWholeRequestLastDoesNot()
    {
        File(".htaccess", "RewriteEngine On\nRewriteRule ^a$ b [L]\nRewriteRule ^b$ c [L]\nRewriteRule ^x$ y [END]\nRewriteRule ^y$ c [L]\n");
        File("b", "b"); File("c", "c"); File("y", "y");
        var (engine, _) = Engine();
        async Task<string> Final(string target)
        {
            var r = Request(target);
            Assert.Equal(0, await engine.ProcessAsync(r));
            while (r.RedirectTo is { } to)
            {
                var (next, s) = engine.InternalRedirect(r, to);
                Assert.Equal(0, s);
                r = next!;
                Assert.Equal(0, await engine.ProcessAsync(r));
            }
            return Path.GetFileName(r.Filename!);
        }
        Assert.Equal("c", await Final("/a"));
        Assert.Equal("y", await Final("/x"));
    }

    [Fact]
    public async Task MoreThanTenInternalRedirectsAreAConfigurationLoop()
    {
        File(".htaccess", "RewriteEngine On\nRewriteRule ^(a|b)$ $1x [L]\nRewriteRule ^ax$ b [L]\nRewriteRule ^bx$ a [L]\n");
        var (engine, _) = Engine();
        var r = Request("/a");
        int status = 0;
        for (int i = 0; i < 30 && status == 0; i++)
        {
            Assert.Equal(0, await engine.ProcessAsync(r));
            if (r.RedirectTo is null) break;
            (var next, status) = engine.InternalRedirect(r, r.RedirectTo);
            if (next is not null) r = next;
        }
        Assert.Equal(500, status);
        Assert.Contains(_log, l => l.Contains("AH00124"));
    }

    [Theory]
    [InlineData("/ax", "/a-hit")]   // the condition reads the rule's $1: the match keeps its groups
    [InlineData("/bx", null)]
    public async Task AConditionReadingTheRulesGroupSeesThem(string target, string? expected)
    {
        File(".htaccess", "RewriteEngine On\nRewriteCond $1 ^a$\nRewriteRule ^(.)x$ /$1-hit [L]\n");
        var (engine, _) = Engine();
        var r = Request(target);
        Assert.Equal(0, await engine.ProcessAsync(r));
        Assert.Equal(expected, r.RedirectTo);
    }

    [Fact]
    public async Task ADollarBeforeANonAsciiDigitIsLiteralText()
    {
        // Apache's apr_isdigit sees bytes: U+0663 is no back-reference, so "$" and the character stay
        File(".htaccess", "RewriteEngine On\nRewriteRule ^x$ /y$\u0663 [L,NE]\n");
        var (engine, _) = Engine();
        var r = Request("/x");
        Assert.Equal(0, await engine.ProcessAsync(r));
        Assert.Equal("/y$\u0663", r.RedirectTo);
    }

    [Fact]
    public async Task AFileTestOfTheRequestsOwnFileAgreesWithTheFileSystem()
    {
        // -f / -d on REQUEST_FILENAME reuse the stat the walk took of that very path ("/d" without
        // its slash would get mod_dir's 301 after the rule, as in Apache)
        File(".htaccess", "RewriteEngine On\nRewriteCond %{REQUEST_FILENAME} -f\nRewriteRule ^f$ /was-file [L]\nRewriteCond %{REQUEST_FILENAME} -d\nRewriteRule ^d/$ /was-dir [L]\nRewriteCond %{REQUEST_FILENAME} !-f\nRewriteCond %{REQUEST_FILENAME} !-d\nRewriteRule ^m$ /was-missing [L]\n");
        File("f", "x");
        Directory.CreateDirectory(Path.Combine(Root, "d"));
        var (engine, _) = Engine();
        foreach (var (target, expected) in new[] { ("/f", "/was-file"), ("/d/", "/was-dir"), ("/m", "/was-missing") })
        {
            var r = Request(target);
            Assert.Equal(0, await engine.ProcessAsync(r));
            Assert.Equal(expected, r.RedirectTo);
        }
    }
}
