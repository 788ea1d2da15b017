using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>Editing keeps everything it does not touch, byte for byte.</summary>
public class VhostEditorTests
{
    private const string Before = "# my shop\n<VirtualHost *:80>\n  ServerName shop.test\n  # who runs it\n  AssignUserID old old\n  Frobnicate yes\n  <Directory /srv/shop>\n    Require all granted\n  </Directory>\n</VirtualHost>\n";

    [Fact]
    public void SetReplacesInPlaceAddsBeforeNestedSectionsAndRemoves()
    {
        var doc = ConfigDocument.Parse(Before, "shop.conf");
        var e = new VhostEditor(doc, 2);
        e.Set("AssignUserID", ["alice", "alice"]);
        e.Set("NiceValue", ["5"]);
        e.Set("Frobnicate", null);
        Assert.Equal("# my shop\n<VirtualHost *:80>\n  ServerName shop.test\n  # who runs it\n  AssignUserID alice alice\n  NiceValue 5\n  <Directory /srv/shop>\n    Require all granted\n  </Directory>\n</VirtualHost>\n", e.ToText());
    }

    [Fact]
    public void RenameDirectoryFollowsTheDocumentRoot()
    {
        var e = new VhostEditor(ConfigDocument.Parse(Before, "shop.conf"), 2);
        e.Set("DocumentRoot", ["/srv/new shop"]);
        e.RenameDirectory("/srv/shop/", "/srv/new shop");
        Assert.Contains("  DocumentRoot \"/srv/new shop\"\n  <Directory \"/srv/new shop\">\n", e.ToText());
    }

    [Fact]
    public void WrongLineIsRefused() =>
        Assert.Throws<InvalidOperationException>(() => new VhostEditor(ConfigDocument.Parse(Before, "shop.conf"), 3));

    [Fact]
    public void RemovingOneOfTwoVhostsKeepsTheOtherAndTheComments()
    {
        string two = Before + "\n# second\n<VirtualHost *:80>\n  ServerName b.test\n</VirtualHost>\n";
        var e = new VhostEditor(ConfigDocument.Parse(two, "two.conf"), 2);
        Assert.True(e.FileHasOtherVhosts);
        Assert.Equal("# my shop\n\n# second\n<VirtualHost *:80>\n  ServerName b.test\n</VirtualHost>\n", e.TextWithoutVhost());
    }

    [Fact]
    public void NewVhostTextReadsBackToTheSameSettings()
    {
        using var dir = new TempDir();
        var spec = new VhostSpec("shop.test", "/srv/www/shop site", ["www.shop.test", "*.shop.test"], "alice", "staff",
            new HostAddress("127.0.0.1", 8080), 20, 5);
        string file = dir.Write("shop.conf", ConfigRoot.NewVhostText(spec));
        var config = new ConfigReader().ReadFiles(file, [file]);
        Assert.Empty(config.Diagnostics);
        var vh = Assert.Single(config.VirtualHosts);
        Assert.Equal(("shop.test", "/srv/www/shop site", "alice", "staff", 20, 5, "127.0.0.1:8080"),
            (vh.Name, vh.DocumentRoot, vh.User, vh.Group, vh.MaxClients!.Value, vh.Nice!.Value, vh.Listen));
        Assert.Equal(spec.Aliases, vh.Aliases);
    }

    [Fact]
    public void AtomicWriteKeepsTheOldVersionAndItsMode()
    {
        using var dir = new TempDir();
        string file = dir.Write("x.conf", "old\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        AtomicFile.Write(file, "new\n");
        Assert.Equal("new\n", File.ReadAllText(file));
        Assert.Equal("old\n", File.ReadAllText(file + ".bak"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(new[] { "x.conf", "x.conf.bak" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void NewVhostWithPhpAndCgiReadsBackAsSuch()
    {
        using var dir = new TempDir();
        var spec = new VhostSpec("blog.test", "/srv/blog", [], "blog", "blog", new HostAddress("*", 80), null, null, PhpMode.FastCgi, Cgi: true);
        string file = dir.Write("blog.conf", ConfigRoot.NewVhostText(spec));
        var config = new ConfigReader().ReadFiles("main", [file]);
        Assert.Empty(config.Diagnostics);
        var vh = Assert.Single(config.VirtualHosts);
        Assert.Equal("FastCgi", vh.Php);
        Assert.True(vh.Cgi);
        Assert.Equal(["index.php", "index.html"], vh.DirectoryIndex);
        var policy = RequestPolicy.For(config.Directives, config.Directories, vh, "/srv/blog/x.php", "/x.php");
        Assert.Equal(HandlerKind.Php, policy.HandlerFor("x.php").Kind);
        Assert.True(RequestPolicy.For(config.Directives, config.Directories, vh, "/srv/blog/a.cgi", "/a.cgi").ExecCgi);

        var plain = spec with { Php = PhpMode.Off, Cgi = false };
        var vh2 = new ConfigReader().ReadFiles("main", [dir.Write("plain.conf", ConfigRoot.NewVhostText(plain))]).VirtualHosts[0];
        Assert.Equal("Off", vh2.Php);
        Assert.False(vh2.Cgi);
    }

    [Fact]
    public void PhpBlockAndOtherHandlersAreAddedAndRemovedAlone()
    {
        const string text = "<VirtualHost *:80>\n  ServerName a.test\n  AddHandler type-map .var\n  <FilesMatch \"\\.inc$\">\n    Require all denied\n  </FilesMatch>\n</VirtualHost>\n";
        var e = new VhostEditor(ConfigDocument.Parse(text, "a.conf"), 1);
        e.AddBlock((indent, nl) => ScriptDirectives.PhpBlock(indent, nl));
        e.Add("AddHandler", ScriptDirectives.CgiHandler);
        string on = e.ToText();
        Assert.Contains("  AddHandler type-map .var\n", on);
        Assert.Contains("  AddHandler cgi-script .cgi\n", on);
        Assert.Contains("  <FilesMatch \"\\.php$\">\n      SetHandler application/x-httpd-php\n  </FilesMatch>\n</VirtualHost>\n", on);

        var off = new VhostEditor(ConfigDocument.Parse(on, "a.conf"), 1);
        off.RemoveBlocks(ScriptDirectives.IsPhpBlock);
        off.RemoveWhere("AddHandler", a => a[0] == "cgi-script");
        Assert.Equal(text, off.ToText());
    }
}
