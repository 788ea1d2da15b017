using ItkPs.Core.Config;
using ItkPs.Core.Htaccess;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// Reading and compiling .htaccess files: what Apache accepts, what it refuses and with which
/// words and line; the conditional sections decided while reading; the override categories.
/// </summary>
public class HtaccessSyntaxTests
{
    private static Section Compile(string text, Overrides allowed = Overrides.All, Opt opts = Opt.Everything, IReadOnlySet<string>? list = null) =>
        SectionCompiler.Compile(HtaccessParser.Parse(text, "/w/.htaccess"), CompileScope.Htaccess("/w/", allowed, list, opts));

    private static DirectiveException Refused(string text, Overrides allowed = Overrides.All, Opt opts = Opt.Everything) =>
        Assert.Throws<DirectiveException>(() => Compile(text, allowed, opts));

    [Fact]
    public void AnUnknownDirectiveIsApachesInvalidCommandWithItsLine()
    {
        var e = Refused("# comment\nRewriteEngine On\nFooBar x\n");
        Assert.Equal(3, e.Line);
        Assert.Equal("/w/.htaccess", e.File);
        Assert.Equal("Invalid command 'FooBar', perhaps misspelled or defined by a module not included in the server configuration", e.Message);
        Assert.Equal("/w/.htaccess:3: Invalid command 'FooBar', perhaps misspelled or defined by a module not included in the server configuration", e.ToString());
    }

    [Theory]
    [InlineData("Require all denied", Overrides.FileInfo)]
    [InlineData("RewriteEngine On", Overrides.AuthConfig)]
    [InlineData("Order deny,allow", Overrides.AuthConfig)]
    [InlineData("DirectoryIndex x.html", Overrides.FileInfo)]
    [InlineData("Options +Indexes", Overrides.Indexes)]
    [InlineData("php_value a b", Overrides.FileInfo)]
    [InlineData("ExpiresActive On", Overrides.FileInfo)]
    public void ADirectiveOutsideTheAllowedCategoriesIsNotAllowedHere(string line, Overrides allowed)
    {
        var e = Refused(line, allowed);
        Assert.EndsWith("not allowed here", e.Message);
        Assert.Equal(1, e.Line);
    }

    [Theory]
    [InlineData("Require all denied", Overrides.AuthConfig)]
    [InlineData("RewriteEngine On", Overrides.FileInfo)]
    [InlineData("Deny from all", Overrides.Limit)]
    [InlineData("DirectoryIndex x.html", Overrides.Indexes)]
    [InlineData("php_flag engine off", Overrides.Options)]
    [InlineData("<Limit POST>\nRequire all denied\n</Limit>", Overrides.AuthConfig)]
    public void ADirectiveInItsCategoryCompiles(string text, Overrides allowed) => Assert.NotNull(Compile(text, allowed));

    [Fact]
    public void AllowOverrideListAllowsNamedDirectivesOnly()
    {
        var list = new HashSet<string>(["Redirect"], StringComparer.OrdinalIgnoreCase);
        Assert.NotNull(Compile("Redirect /a /b", Overrides.None, list: list).Alias);
        Assert.Throws<DirectiveException>(() => Compile("Header set X 1", Overrides.None, list: list));
    }

    [Theory]
    [InlineData("php_admin_value open_basedir /", "php_admin_value not allowed here")]
    [InlineData("php_admin_flag engine on", "php_admin_flag not allowed here")]
    [InlineData("AllowOverride All", "AllowOverride not allowed here")]
    [InlineData("<Directory /x>\n</Directory>", "<Directory not allowed here")]
    [InlineData("RewriteMap m txt:/x", "RewriteMap not allowed here")]
    [InlineData("Options Indexes +ExecCGI", "Either all Options must start with + or -, or no Option may.")]
    [InlineData("Options +All", "You may not use 'Options +All' or 'Options -All'.")]
    [InlineData("Options Bogus", "Illegal option Bogus")]
    [InlineData("RewriteEngine On\nRewriteRule ^x$ y [NOPE]", "RewriteRule: unknown flag 'NOPE'")]
    [InlineData("RewriteCond %{HTTP_HOST} x [XX]", "RewriteCond: unknown flag 'XX'")]
    [InlineData("RewriteRule ^(x$ y", "RewriteRule: cannot compile regular expression '^(x$'")]
    [InlineData("RewriteBase relative/", "RewriteBase: argument is not a valid URL")]
    [InlineData("Require bogus x", "Unknown Authz provider: bogus")]
    [InlineData("Require not ip 10.0.0.1", "negative Require directive has no effect in <RequireAny> directive")]
    [InlineData("Require ip 10.0.0.999", "ip address '10.0.0.999' appears to be invalid")]
    [InlineData("Order up,down", "unknown order")]
    [InlineData("Allow to 10.0.0.1", "allow and deny must be followed by 'from'")]
    [InlineData("<Else>\n</Else>", "<Else> or <ElseIf> section without previous <If> or <ElseIf> section in same scope")]
    [InlineData("ErrorDocument 999 /x", "Unsupported HTTP response code 999")]
    [InlineData("php_value upload_max_filesize", "php_value takes two arguments, PHP Value Modifier")]
    [InlineData("Redirect gone /a /b", "Redirect URL not valid for this status")]
    [InlineData("FileETag None +INode", "FileETag 'None' or explicit settings may not be mixed with +/- changes")]
    public void RefusesWhatApacheRefusesWithItsWords(string text, string message) => Assert.Equal(message, Refused(text).Message);

    [Fact]
    public void OptionsThatAllowOverrideOptionsDoesNotListAreNotAllowed()
    {
        Assert.Equal("Option ExecCGI not allowed here", Refused("Options +ExecCGI", Overrides.Options, Opt.Indexes).Message);
        Assert.NotNull(Compile("Options +Indexes -ExecCGI", Overrides.Options, Opt.Indexes | Opt.ExecCGI));
    }

    [Fact]
    public void IfModuleAcceptsBothNamesAndNegationAndSkipsWhatIsNotLoaded()
    {
        var records = HtaccessParser.Parse("""
            <IfModule mod_rewrite.c>
            RewriteEngine On
            </IfModule>
            <IfModule headers_module>
            Header set X-A 1
            </IfModule>
            <IfModule !mod_rewrite.c>
            Bogus one
            </IfModule>
            <IfModule mod_deflate.c>
            AddOutputFilterByType DEFLATE text/html
            </IfModule>
            <IfModule php7_module>
            Bogus two
            </IfModule>
            <IfModule php_module>
            php_flag engine off
            </IfModule>
            """, "/w/.htaccess");
        Assert.Equal(["RewriteEngine", "Header", "php_flag"], records.Select(r => r.Name));
    }

    [Fact]
    public void AnUnclosedConditionalRunsToTheEndButAnUnclosedFilesIsAnError()
    {
        Assert.Single(HtaccessParser.Parse("<IfModule mod_rewrite.c>\nRewriteEngine On\n", "/w/.htaccess"));
        var e = Assert.Throws<DirectiveException>(() => HtaccessParser.Parse("Header set X 1\n<Files x>\nRequire all denied\n", "/w/.htaccess"));
        Assert.Equal(2, e.Line);
        Assert.Contains("<Files> is never closed", e.Message);
        e = Assert.Throws<DirectiveException>(() => HtaccessParser.Parse("RewriteEngine On\n</IfModule>\n", "/w/.htaccess"));
        Assert.Equal(2, e.Line);
    }

    [Theory]
    [InlineData("<IfVersion >= 2.4>", true)]
    [InlineData("<IfVersion >= 2.4.10>", true)]
    [InlineData("<IfVersion < 2.4>", false)]
    [InlineData("<IfVersion = 2.4>", true)]
    [InlineData("<IfVersion !~ ^2\\.2>", true)]
    [InlineData("<IfDefine FOO>", false)]
    [InlineData("<IfDefine !FOO>", true)]
    [InlineData("<IfDirective RewriteRule>", true)]
    [InlineData("<IfDirective ProxyPass>", false)]
    public void ConditionalSectionsAreDecidedWhileReading(string open, bool applies)
    {
        string name = open[1..open.IndexOf(' ')];
        var records = HtaccessParser.Parse($"{open}\nHeader set X 1\n</{name}>\n", "/w/.htaccess");
        Assert.Equal(applies, records.Count == 1);
    }

    [Fact]
    public void IfElseIfElseFormOneChainAndAreParsedAsExpressions()
    {
        var s = Compile("<If \"%{HTTPS} == 'on'\">\nHeader set X a\n</If>\n<ElseIf \"-z %{QUERY_STRING}\">\nHeader set X b\n</ElseIf>\n<Else>\nHeader set X c\n</Else>");
        var chain = Assert.Single(s.Ifs);
        Assert.Equal(3, chain.Branches.Count);
        Assert.Null(chain.Branches[2].Condition);
        var e = Refused("<If \"%{HTTPS} ==\">\n</If>");
        Assert.StartsWith("Cannot parse condition clause", e.Message);
    }

    [Fact]
    public void OptionsKeepApachesExplicitOrRelativeForm()
    {
        var explicitSet = Compile("Options Indexes FollowSymLinks").Core!;
        Assert.True(explicitSet.OptsExplicit);
        Assert.Equal(Opt.Indexes | Opt.FollowSymLinks, explicitSet.Opts);
        var relative = Compile("Options +Indexes -FollowSymLinks").Core!;
        Assert.False(relative.OptsExplicit);
        Assert.Equal(Opt.Indexes, relative.OptsAdd);
        Assert.Equal(Opt.FollowSymLinks, relative.OptsRemove);
        var merged = PerDir.Empty.Merge(Compile("Options +ExecCGI")).Merge(Compile("Options -FollowSymLinks"));
        Assert.Equal(Opt.ExecCGI, merged.Options);
        Assert.Equal(Opt.Indexes, PerDir.Empty.Merge(Compile("Options +ExecCGI")).Merge(Compile("Options Indexes")).Options);
    }

    [Fact]
    public void PhpSettingsAreConvertedAsModPhpDoesAndAdminOnesWin()
    {
        var php = Compile("php_flag display_errors On\nphp_flag log_errors off\nphp_value session.save_path none\nphp_value max_input_vars 2000").Php!.Values;
        Assert.Equal("1", php["display_errors"].Value);
        Assert.Equal("0", php["log_errors"].Value);
        Assert.Equal("", php["session.save_path"].Value);
        var admin = SectionCompiler.Compile([new DirectiveRecord("php_admin_value", ["open_basedir", "/srv/a"], "/etc/v.conf", 7)], new CompileScope(ScopeKind.VirtualHost));
        var merged = PerDir.Empty.Merge(admin).Merge(Compile("php_value open_basedir /\nphp_value memory_limit 64M"));
        Assert.Equal("/srv/a", merged.Php.Values["open_basedir"].Value);
        Assert.True(merged.Php.Values["open_basedir"].Admin);
        Assert.Equal("64M", merged.Php.Values["memory_limit"].Value);
    }

    [Fact]
    public void RewriteRulesTakeTheConditionsWrittenBeforeThem()
    {
        var rw = Compile("""
            RewriteEngine On
            RewriteBase /blog/
            RewriteCond %{REQUEST_FILENAME} !-f
            RewriteCond %{REQUEST_FILENAME} !-d [OR]
            RewriteCond %{HTTP:X-A} =yes [NC]
            RewriteRule . /index.php [L]
            RewriteRule ^x$ y [R=301,QSA,NE,E=A:b,E=C:d,S=2,T=text/plain,B]
            """).Rewrite!;
        Assert.True(rw.Engine);
        Assert.Equal("/blog/", rw.BaseUrl);
        Assert.Equal("/w/", rw.Directory);
        Assert.Equal(2, rw.Rules.Count);
        var first = rw.Rules[0];
        Assert.Equal(3, first.Conditions.Count);
        Assert.Equal(CondKind.FileExists, first.Conditions[0].Kind);
        Assert.True(first.Conditions[0].Negate);
        Assert.True(first.Conditions[1].OrNext);
        Assert.Equal(CondKind.StrEq, first.Conditions[2].Kind);
        Assert.True(first.Conditions[2].NoCase);
        var second = rw.Rules[1];
        Assert.Empty(second.Conditions);
        Assert.Equal(301, second.ForcedStatus);
        Assert.Equal(RuleFlags.Redirect | RuleFlags.QsAppend | RuleFlags.NoEscape | RuleFlags.EscapeBackref, second.Flags);
        Assert.Equal(["A:b", "C:d"], second.Env);
        Assert.Equal(2, second.Skip);
        Assert.Equal("text/plain", second.ForcedType);
    }

    [Fact]
    public void ModRewritesOwnArgumentSplitterKeepsBackslashesAndEscapedSpaces()
    {
        Assert.Null(RewriteParser.SplitArgs(@"^a\ b$ /c\ d [L]", out var a1, out var a2, out var a3));
        Assert.Equal("^a b$", a1);
        Assert.Equal("/c d", a2);
        Assert.Equal("[L]", a3);
        Assert.Null(RewriteParser.SplitArgs(@"^index\.php$ -", out a1, out a2, out a3));
        Assert.Equal(@"^index\.php$", a1);
        Assert.Null(a3);
        Assert.StartsWith("bad flag delimiters", RewriteParser.SplitArgs("^a b c", out _, out _, out _));
    }
}

/// <summary>The configuration reader records the request engine's directives where Apache allows them, and validates them at start-up.</summary>
public class ConfigDirectivesTests
{
    [Fact]
    public void RecordsSectionsAndTheNewDirectivesAndCompilesThemAtStartUp()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", """
            Listen 8080
            <VirtualHost *:8080>
              ServerName a.test
              DocumentRoot /srv/a
              RewriteEngine On
              RewriteRule ^/old$ /new [R=301]
              php_admin_value open_basedir /srv/a
              Header always set X-Frame-Options SAMEORIGIN
              <Directory /srv/a>
                AllowOverride FileInfo AuthConfig
                <RequireAll>
                  Require all granted
                  Require not ip 10.0.0.0/8
                </RequireAll>
                <If "%{HTTPS} != 'on'">
                  Header set X-Plain yes
                </If>
              </Directory>
            </VirtualHost>
            """);
        var config = new ConfigReader().Read(main);
        Assert.False(config.HasErrors, string.Join("\n", config.Diagnostics));
        Assert.Empty(config.Diagnostics);
        var vh = config.VirtualHosts[0];
        Assert.Contains(vh.Directives, d => d.Is("RewriteRule") && d.RawArgs == "^/old$ /new [R=301]");
        var block = vh.Directories.Single();
        var require = Assert.Single(block.Directives, d => d.Is("RequireAll"));
        Assert.Equal(2, require.Children!.Count);
        Assert.Single(block.Directives, d => d.Is("If"));
    }

    [Fact]
    public void ADirectiveItkdCannotCarryOutIsAnErrorWithItsLine()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", "Listen 8080\n<VirtualHost *:8080>\n  ServerName a.test\n  RewriteEngine On\n  RewriteRule ^(x /y\n</VirtualHost>\n");
        var error = Assert.Single(new ConfigReader().Read(main).Errors);
        Assert.Equal(5, error.Line);
        Assert.Contains("cannot compile regular expression", error.Message);
        main = dir.Write("maps.conf", "Listen 8080\n<VirtualHost *:8080>\n  ServerName a.test\n  RewriteMap m txt:/etc/m\n</VirtualHost>\n");
        error = Assert.Single(new ConfigReader().Read(main).Errors);
        Assert.Equal(4, error.Line);
        Assert.Contains("no rewrite maps", error.Message);
    }

    [Fact]
    public void ServerLevelDirectivesItkdIgnoresAreStillWarnedAbout()
    {
        using var dir = new TempDir();
        string main = dir.Write("main.conf", "Listen 8080\nServerAdmin root@example.invalid\n<VirtualHost *:8080>\n  ServerName a.test\n  LogLevel debug\n</VirtualHost>\n");
        var warnings = new ConfigReader().Read(main).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).ToList();
        Assert.Contains(warnings, w => w.Line == 2 && w.Message.Contains("ServerAdmin"));
        Assert.Contains(warnings, w => w.Line == 5 && w.Message.Contains("LogLevel"));
    }
}
