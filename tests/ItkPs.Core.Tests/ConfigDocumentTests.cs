using ItkPs.Core.Config;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>The line model: byte-identical round trips and syntax errors with line numbers.</summary>
public class ConfigDocumentTests
{
    private const string Messy =
        "# A hand-written vhost file\r\n" +
        "\r\n" +
        "<VirtualHost *:80 [::1]:80>\r\n" +
        "\tServerName   shop.example.com   \r\n" +
        "    # keep me, I explain something\r\n" +
        "    ServerAlias www.shop.example.com \\\r\n" +
        "                *.shop.example.com\r\n" +
        "    FancyUnknownDirective \"with quotes\" 'and more' # not a comment in Apache\r\n" +
        "  <IfModule mod_rewrite.c>\r\n" +
        "      RewriteEngine On\r\n" +
        "  </IfModule>\r\n" +
        "    DocumentRoot \"/srv/www/shop example\"\r\n" +
        "</VirtualHost>\r\n" +
        "   \r\n" +
        "ServerTokens Prod"; // no final newline

    [Fact]
    public void RoundTripIsByteIdentical_WithCommentsContinuationsUnknownDirectivesAndCrLf()
    {
        var doc = ConfigDocument.Parse(Messy, "shop.conf");
        Assert.Empty(doc.Errors);
        Assert.Equal(Messy, doc.ToText());
    }

    [Fact]
    public void RoundTripOfEveryExampleFileIsByteIdentical()
    {
        string examples = Path.Combine(RepoRoot.Path, "examples");
        var files = Directory.GetFiles(examples, "*.conf", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (var f in files)
            Assert.Equal(File.ReadAllText(f), ConfigDocument.Load(f).ToText());
    }

    [Fact]
    public void ContinuationLinesJoinIntoOneDirectiveOnTheFirstLine()
    {
        var doc = ConfigDocument.Parse(Messy, "shop.conf");
        var alias = doc.Roots[0].Children.Single(c => c.Is("ServerAlias"));
        Assert.Equal(6, alias.Line);
        Assert.Equal(new[] { "www.shop.example.com", "*.shop.example.com" }, alias.Args);
    }

    [Fact]
    public void QuotedArgumentsKeepTheirSpaces()
    {
        var doc = ConfigDocument.Parse(Messy, "shop.conf");
        Assert.Equal("/srv/www/shop example", doc.Roots[0].Children.Single(c => c.Is("DocumentRoot")).Args[0]);
        // Apache has no trailing comments: '#' after a directive is just another argument.
        Assert.Equal(new[] { "with quotes", "and more", "#", "not", "a", "comment", "in", "Apache" },
            doc.Roots[0].Children.Single(c => c.Is("FancyUnknownDirective")).Args);
    }

    [Theory]
    [InlineData("<VirtualHost *:80>\nServerName a\n", 1, "never closed")]
    [InlineData("ServerName a\n</VirtualHost>\n", 2, "no matching")]
    [InlineData("<VirtualHost *:80>\n<Directory /x>\n</VirtualHost>\n", 3, "closes <Directory> opened at line 2")]
    [InlineData("\n\nDocumentRoot \"/srv/unterminated\n", 3, "Unterminated")]
    [InlineData("# c\n<VirtualHost *:80\n</VirtualHost>\n", 2, "missing its closing '>'")]
    public void SyntaxErrorsNameTheLine(string text, int line, string fragment)
    {
        var doc = ConfigDocument.Parse(text, "/etc/itkps/bad.conf");
        var error = Assert.Single(doc.Errors);
        Assert.Equal(line, error.Line);
        Assert.Equal("/etc/itkps/bad.conf", error.File);
        Assert.Contains(fragment, error.Message);
        Assert.StartsWith($"/etc/itkps/bad.conf:{line}: error:", error.ToString());
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("/srv/with space", "\"/srv/with space\"")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("", "\"\"")]
    public void QuoteRoundTripsThroughTheTokenizer(string arg, string quoted)
    {
        Assert.Equal(quoted, ConfigDocument.Quote(arg));
        Assert.Equal(arg, Assert.Single(ConfigDocument.Tokenize(ConfigDocument.Quote(arg), out var err)));
        Assert.Null(err);
    }
}

internal static class RepoRoot
{
    public static string Path { get; } = Find();
    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(System.IO.Path.Combine(d.FullName, "ItkPs.sln"))) return d.FullName;
        throw new InvalidOperationException("ItkPs.sln not found above " + AppContext.BaseDirectory);
    }
}
