using ItkPs.Core.Htaccess;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>The negotiation algorithm alone; the differential table of tests/pester/Htaccess.Tests.ps1 compares it with Apache's.</summary>
public class NegotiationTests
{
    private static Negotiation.Variant V(string file, string type, string[]? langs = null, string? enc = null, long bytes = 10, string charset = "") =>
        new() { FileName = file, MimeType = type, Languages = langs ?? [], Encoding = enc, Bytes = bytes, Charset = charset, Level = type == "text/html" ? 2 : 0 };

    private static Negotiation.Result Run(Negotiation.Request req, params Negotiation.Variant[] variants) => Negotiation.Negotiate(req, variants);

    [Theory]
    [InlineData("text/html;q=0.5", 0.5f)]
    [InlineData("text/html; q=0", 0f)]
    [InlineData("text/html;q=.25", 0.25f)]
    [InlineData("text/html;q=1.0", 1f)]
    [InlineData("text/html;q=0.1234", 0.123f)]
    [InlineData("text/html;q=junk", 1f)]
    [InlineData("text/html;level=1", 1f)]
    public void ReadsQvaluesAsApacheDoes(string header, float q)
    {
        var list = Negotiation.ParseList(header)!;
        Assert.Single(list);
        Assert.Equal("text/html", list[0].Name);
        Assert.Equal(q, list[0].Quality, 3);
    }

    [Fact]
    public void ReadsAListWithParametersAndQuotes()
    {
        var list = Negotiation.ParseList("Text/HTML;level=3, text/plain; charset=\"UTF-8\" ;q=0.4 ,*/*;q=0.1")!;
        Assert.Equal(["text/html", "text/plain", "*/*"], list.Select(i => i.Name));
        Assert.Equal(3f, list[0].Level);
        Assert.Equal("utf-8", list[1].Charset);
        Assert.Equal(0.4f, list[1].Quality, 3);
        Assert.Null(Negotiation.ParseList(null));
    }

    [Fact]
    public void NeverLoopsOnBytesNoRuleConsumes()
    {
        foreach (var junk in new[] { "\"", ";;;", ",,,", "a\"b;c", "=;=,=", "\u0001\u0002" })
            Assert.NotNull(Negotiation.ParseList(junk));
    }

    [Fact]
    public void PrefersTheExactTypeTheClientNamesOverWildcards()
    {
        var r = Run(new Negotiation.Request { Accept = "text/plain, */*", Transparent = true }, V("doc.html", "text/html"), V("doc.txt", "text/plain"));
        Assert.Equal("doc.txt", r.Best!.FileName);
        Assert.Contains(r.Headers, h => h.Key == "Content-Location" && h.Value == "doc.txt");
        Assert.Contains(r.Headers, h => h.Key == "Vary" && h.Value == "negotiate, accept");
        Assert.Contains(r.Headers, h => h.Key == "TCN" && h.Value == "choice");
    }

    [Fact]
    public void AnswersNotAcceptableWithTheAlternatesAndTheList()
    {
        var r = Run(new Negotiation.Request { Accept = "image/png", Transparent = true }, V("doc.html", "text/html", bytes: 5), V("doc.txt", "text/plain", bytes: 5));
        Assert.Equal(406, r.Status);
        Assert.Null(r.Best);
        Assert.Contains(r.Headers, h => h.Key == "Alternates" && h.Value == "{\"doc.html\" 1 {type text/html} {length 5}}, {\"doc.txt\" 1 {type text/plain} {length 5}}");
        Assert.Contains(r.Headers, h => h.Key == "TCN" && h.Value == "list");
        Assert.Contains("<li><a href=\"doc.txt\">doc.txt</a> , type text/plain</li>", r.VariantList);
    }

    [Fact]
    public void MatchesALanguageByPrefixAndPrefersTheLongestRange()
    {
        var en = V("p.en", "text/html", ["en"]);
        var gb = V("p.en-gb", "text/html", ["en-gb"]);
        var de = V("p.de", "text/html", ["de"]);
        Assert.Equal("p.en-gb", Run(new Negotiation.Request { AcceptLanguage = "en-gb, en;q=0.8" }, de, en, gb).Best!.FileName);
        Assert.Equal("p.de", Run(new Negotiation.Request { AcceptLanguage = "de;q=0.5, en;q=0.4" }, de, en, gb).Best!.FileName);
        // en-US matches nothing exactly: en and en-gb still qualify at a low quality, de does not
        Assert.NotEqual("p.de", Run(new Negotiation.Request { AcceptLanguage = "en-US" }, de, en, gb).Best!.FileName);
    }

    [Fact]
    public void LanguagePriorityBreaksTiesAndFallsBack()
    {
        var en = V("p.en", "text/html", ["en"]);
        var de = V("p.de", "text/html", ["de"]);
        var prio = new Negotiation.Request { LanguagePriority = ["de", "en"], Force = ForceLanguage.Prefer | ForceLanguage.Fallback, AcceptLanguage = "fr" };
        Assert.Equal("p.de", Run(prio, en, de).Best!.FileName);
        var none = new Negotiation.Request { LanguagePriority = ["de", "en"], Force = ForceLanguage.None, AcceptLanguage = "fr" };
        Assert.Equal(406, Run(none, en, de).Status);
    }

    [Fact]
    public void PrefersNoEncodingUnlessTheClientAcceptsOne()
    {
        var plain = V("r.html", "text/html", bytes: 100);
        var gz = V("r.html.gz", "application/gzip", enc: "x-gzip", bytes: 10);
        Assert.Equal("r.html", Run(new Negotiation.Request(), plain, gz).Best!.FileName);
        Assert.Equal("r.html.gz", Run(new Negotiation.Request { AcceptEncoding = "gzip" }, plain, gz).Best!.FileName);
        Assert.Equal("r.html", Run(new Negotiation.Request { AcceptEncoding = "gzip", NoGzip = true }, plain, gz).Best!.FileName);
        Assert.Equal(406, Run(new Negotiation.Request { AcceptEncoding = "br" }, gz).Status);
    }

    [Fact]
    public void ANonTransparentRequestGetsVaryButNoContentLocationOrTcn()
    {
        var r = Run(new Negotiation.Request { Transparent = false }, V("p.en", "text/html", ["en"]), V("p.de", "text/html", ["de"]));
        Assert.DoesNotContain(r.Headers, h => h.Key is "Content-Location" or "TCN");
        Assert.Contains(r.Headers, h => h.Key == "Vary" && h.Value == "accept-language");
    }

    [Theory]
    [InlineData("x-gzip", "gzip, deflate", "gzip")]
    [InlineData("gzip", "x-gzip", "x-gzip")]
    [InlineData("gzip", "br", "gzip")]
    [InlineData("gzip", null, "gzip")]
    public void SpellsTheEncodingAsTheClientDoes(string encoding, string? accept, string expected) =>
        Assert.Equal(expected, Negotiation.FixEncoding(encoding, accept));
}
