using ItkPs.Core.Config;
using ItkPs.Core.Unix;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>Evaluation of a configuration: includes, IfModule, fallbacks and located diagnostics.</summary>
public class ConfigReaderTests
{
    [Fact]
    public void IncludesFollowWildcardsInSortedOrderAndIncludeOptionalToleratesNothing()
    {
        using var dir = new TempDir();
        dir.Write("sites/20-b.conf", "<VirtualHost *:80>\n ServerName b.test\n</VirtualHost>\n");
        dir.Write("sites/10-a.conf", "<VirtualHost *:80>\n ServerName a.test\n</VirtualHost>\n");
        dir.Write("sites/.hidden.conf", "<VirtualHost *:80>\n ServerName hidden.test\n</VirtualHost>\n");
        string main = dir.Write("main.conf", "Listen 80\nUser www-data\nGroup www-data\nInclude sites/*.conf\nIncludeOptional none/*.conf\n");
        var config = new ConfigReader().Read(main);
        Assert.Empty(config.Diagnostics);
        Assert.Equal(new[] { "a.test", "b.test" }, config.VirtualHosts.Select(v => v.Name));
        Assert.Equal("www-data", config.VirtualHosts[0].User); // fallback to the server's User
    }

    [Fact]
    public void MissingIncludeIsAnErrorAtTheIncludeLine()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", "# comment\nInclude missing/*.conf\nInclude /nonexistent/file.conf\n");
        var config = new ConfigReader().Read(main);
        Assert.Collection(config.Errors,
            e => { Assert.Equal(2, e.Line); Assert.Equal(main, e.File); Assert.Contains("matches no file", e.Message); },
            e => { Assert.Equal(3, e.Line); Assert.Contains("not found", e.Message); });
    }

    [Fact]
    public void IncludeCycleIsReportedNotFollowedForever()
    {
        using var dir = new TempDir();
        dir.Write("a.conf", "Include b.conf\n");
        dir.Write("b.conf", "Include a.conf\n");
        var config = new ConfigReader().Read(Path.Combine(dir.Path, "a.conf"));
        Assert.Contains(config.Errors, e => e.Message.Contains("includes itself"));
    }

    [Fact]
    public void IfModuleIsEvaluatedIncludingNegationAndLoadModule()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", """
            LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so
            <VirtualHost *:80>
                ServerName a.test
                <IfModule mpm_itk_module>
                    AssignUserID alice alice
                </IfModule>
                <IfModule !mpm_itk_module>
                    AssignUserID never never
                </IfModule>
                <IfModule mod_rewrite.c>
                    RewriteEngine On
                </IfModule>
                <IfModule libphp8.2.c>
                    NiceValue 5
                </IfModule>
            </VirtualHost>
            """);
        var config = new ConfigReader().Read(main);
        Assert.Empty(config.Diagnostics); // RewriteEngine sits in a false IfModule: not even a warning
        var vh = Assert.Single(config.VirtualHosts);
        Assert.Equal(("alice", "alice"), (vh.AssignedUser, vh.AssignedGroup));
        Assert.Equal(5, vh.Nice);
    }

    [Fact]
    public void UnknownDirectivesAreWarningsWithFileAndLine()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", "Listen 8080\n\n<VirtualHost *:8080>\n  ServerName a.test\n  ProxyPreserveHost On\n  <Proxy *>\n  </Proxy>\n</VirtualHost>\n");
        var config = new ConfigReader().Read(main);
        Assert.False(config.HasErrors);
        Assert.Collection(config.Diagnostics,
            w => { Assert.Equal(DiagnosticSeverity.Warning, w.Severity); Assert.Equal(5, w.Line); Assert.Contains("ProxyPreserveHost", w.Message); },
            w => { Assert.Equal(6, w.Line); Assert.Contains("<Proxy>", w.Message); });
    }

    [Theory]
    [InlineData("<VirtualHost *:80>\nAssignUserID alice\n</VirtualHost>\n", 2, "two arguments")]
    [InlineData("<VirtualHost *:80>\nMaxClientsVHost many\n</VirtualHost>\n", 2, "not a number")]
    [InlineData("<VirtualHost *:80>\nListen 80\n</VirtualHost>\n", 2, "not allowed in <VirtualHost>")]
    [InlineData("Listen 127.0.0.1:99999\n", 1, "not a port")]
    [InlineData("<VirtualHost www.example.com:80>\n</VirtualHost>\n", 1, "not an IP address")]
    [InlineData("LimitUIDRange 2000 1000\n", 1, "minimum then maximum")]
    [InlineData("<VirtualHost *:80>\n<VirtualHost *:81>\n</VirtualHost>\n</VirtualHost>\n", 2, "cannot be nested")]
    public void BadDirectivesAreErrorsWithTheirLine(string text, int line, string fragment)
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", text);
        var error = Assert.Single(new ConfigReader().Read(main).Errors);
        Assert.Equal(line, error.Line);
        Assert.Contains(fragment, error.Message);
    }

    [Fact]
    public void ListenAcceptsApacheForms()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", "Listen 80\nListen 127.0.0.1:8080\nListen [::1]:8443 https\n");
        var config = new ConfigReader().Read(main);
        Assert.Empty(config.Diagnostics);
        Assert.Equal(new[] { "*:80", "127.0.0.1:8080", "[::1]:8443" }, config.Listens.Select(l => l.Address.ToString()));
    }
}

/// <summary>Validation like apachectl -t, against a table of accounts (the real ones are used by the Pester tests).</summary>
public class ConfigValidatorTests
{
    private sealed class Table : IAccountDatabase
    {
        private readonly UserAccount[] _users =
        [
            new("root", 0, 0, "/root", "/bin/sh"), new("alice", 1001, 1001, "/", ""), new("bob", 1002, 1002, "/", ""),
            new("www-data", 33, 33, "/", ""), new("lowuser", 500, 1001, "/", ""),
        ];
        private readonly GroupAccount[] _groups = [new("root", 0, []), new("alice", 1001, []), new("bob", 1002, []), new("www-data", 33, [])];
        public UserAccount? FindUser(string n) => _users.FirstOrDefault(u => u.Name == n);
        public GroupAccount? FindGroup(string n) => _groups.FirstOrDefault(g => g.Name == n);
        public UserAccount? FindUser(uint id) => _users.FirstOrDefault(u => u.Uid == id);
        public GroupAccount? FindGroup(uint id) => _groups.FirstOrDefault(g => g.Gid == id);
        public IReadOnlyList<uint> GroupsOf(string user) => [];
        public IReadOnlyList<string> UsersWithPrimaryGroup(uint gid) => [];
    }

    private static IReadOnlyList<ConfigDiagnostic> Validate(TempDir dir, string vhosts, string server = "User www-data\nGroup www-data\n")
    {
        string main = dir.Write("main.conf", server + vhosts.Replace("@ROOT@", dir.Path));
        var config = new ConfigReader().Read(main);
        Assert.False(config.HasErrors, string.Join("\n", config.Errors));
        return ConfigValidator.Validate(config, new Table());
    }

    [Fact]
    public void AGoodVhostHasNoFindings()
    {
        using var dir = new TempDir();
        Assert.Empty(Validate(dir, "<VirtualHost *:80>\nServerName a.test\nDocumentRoot @ROOT@\nAssignUserID alice alice\n</VirtualHost>\n"));
    }

    [Theory]
    [InlineData("AssignUserID root alice", "uid 0")]
    [InlineData("AssignUserID alice root", "gid 0")]
    [InlineData("AssignUserID mallory alice", "'mallory' does not exist")]
    [InlineData("AssignUserID alice nogroup", "'nogroup' does not exist")]
    [InlineData("AssignUserID lowuser alice", "outside LimitUIDRange 1000-60000")]
    [InlineData("AssignUserID alice www-data", "outside LimitGIDRange 1000-60000")]
    [InlineData("MaxClientsVHost 0", "greater than 0")]
    public void IdentityAndLimitErrorsPointAtTheDirectiveLine(string directive, string fragment)
    {
        using var dir = new TempDir();
        var found = Validate(dir, $"<VirtualHost *:80>\nServerName a.test\nDocumentRoot @ROOT@\nAssignUserID alice alice\n{directive}\n</VirtualHost>\n",
            "User www-data\nGroup www-data\nLimitUIDRange 1000 60000\nLimitGIDRange 1000 60000\n");
        var error = Assert.Single(found, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Contains(fragment, error.Message);
        Assert.Equal(9, error.Line); // the directive's line; the <VirtualHost> is line 5
    }

    [Fact]
    public void DefaultUidRangeRefusesRootButAcceptsSystemUsers()
    {
        using var dir = new TempDir();
        var found = Validate(dir, "<VirtualHost *:80>\nServerName a.test\nDocumentRoot @ROOT@\nAssignUserID www-data www-data\n</VirtualHost>\n");
        Assert.Empty(found);
    }

    [Fact]
    public void FallbackToServerUserIsCheckedToo()
    {
        using var dir = new TempDir();
        var found = Validate(dir, "<VirtualHost *:80>\nServerName a.test\nDocumentRoot @ROOT@\n</VirtualHost>\n", "User root\nGroup root\n");
        Assert.Contains(found, d => d.Message.Contains("uid 0") && d.Message.Contains("from the server's User/Group"));
        Assert.Contains(found, d => d.Message.Contains("vhosts without AssignUserID would run as root"));
    }

    [Fact]
    public void MissingDocumentRootAndDuplicateNamesAreErrors()
    {
        using var dir = new TempDir();
        var found = Validate(dir, """
            <VirtualHost *:80>
            ServerName a.test
            DocumentRoot /nonexistent/itkps
            </VirtualHost>
            <VirtualHost *:80>
            ServerName other.test
            ServerAlias A.test
            DocumentRoot @ROOT@
            </VirtualHost>
            <VirtualHost *:81>
            ServerName a.test
            DocumentRoot @ROOT@
            </VirtualHost>
            """);
        Assert.Collection(found.Where(d => d.Severity == DiagnosticSeverity.Error),
            d => { Assert.Contains("does not exist", d.Message); Assert.Equal(5, d.Line); }, // DocumentRoot, not <VirtualHost> (3)
            d => { Assert.Contains("'a.test' on *:80 is already used", d.Message); Assert.Equal(7, d.Line); });
    }

    [Theory]
    [InlineData(-25, -20)]
    [InlineData(40, 19)]
    public void NiceValueOutsideRangeIsClampedWithAWarningLikeMpmItk(int nice, int clamped)
    {
        using var dir = new TempDir();
        var found = Validate(dir, $"<VirtualHost *:80>\nServerName a.test\nDocumentRoot @ROOT@\nNiceValue {nice}\n</VirtualHost>\n");
        var w = Assert.Single(found);
        Assert.Equal(DiagnosticSeverity.Warning, w.Severity);
        Assert.Contains($"clamped to {clamped}", w.Message);
        Assert.Equal(6, w.Line); // the NiceValue line; the <VirtualHost> is line 3
    }
}
