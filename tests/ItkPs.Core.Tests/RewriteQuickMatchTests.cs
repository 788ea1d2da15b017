using System.Text.RegularExpressions;
using ItkPs.Core.Htaccess;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>The regex-free answers of RewriteRuleEntry.QuickMatch agree with the regex engine wherever they answer.</summary>
public class RewriteQuickMatchTests
{
    private static readonly string[] Patterns =
    [
        ".*", ".", "^", "^index\\.php$", "^index\\.php", "\\.css$", "wp-admin", "^wp-json/", "^a\\/b$", "^x y$", "^$",
        "^index.php$", "^(.*)$", "\\d+", "^foo\\$", "^c\\+\\+$", "^[a-z]+$", "a|b", "^é$",
    ];

    private static readonly string[] Inputs =
    [
        "", "index.php", "index.php\n", "INDEX.PHP", "index.phpx", "xindex.php", "style.css", "style.css\n", "style.cssx", "wp-admin/x",
        "a/wp-admin", "wp-json/v2", "a/b", "x y", "indexXphp", "c++", "foo$", "\n", "é",
    ];

    [Fact]
    public void AgreesWithTheRegexEngine()
    {
        foreach (bool nc in new[] { false, true })
        foreach (var pattern in Patterns)
        {
            var regex = new Regex(pattern, RegexOptions.CultureInvariant | (nc ? RegexOptions.IgnoreCase : 0));
            var rule = new RewriteRuleEntry { PatternText = pattern, Regex = regex, Output = "-", File = "t", Flags = nc ? RuleFlags.NoCase : RuleFlags.None };
            foreach (var input in Inputs)
            {
                bool? quick = rule.QuickMatch(input);
                if (quick is bool q) Assert.True(q == regex.IsMatch(input), $"pattern '{pattern}' (NC {nc}) on '{input.Replace("\n", "\\n")}': quick {q}, regex {!q}");
            }
        }
    }

    [Theory]
    [InlineData("^index\\.php$")]
    [InlineData("\\.css$")]
    [InlineData("^wp-json/")]
    public void AnswersPlainTextWithoutTheRegexEngine(string pattern)
    {
        var rule = new RewriteRuleEntry { PatternText = pattern, Regex = new Regex(pattern), Output = "-", File = "t" };
        Assert.NotNull(rule.QuickMatch("anything"));
    }

    [Theory]
    [InlineData("^(.*)$")]
    [InlineData("^index.php$")]
    [InlineData("\\d+")]
    [InlineData("a|b")]
    public void LeavesRealRegexesToTheEngine(string pattern)
    {
        var rule = new RewriteRuleEntry { PatternText = pattern, Regex = new Regex(pattern), Output = "-", File = "t" };
        Assert.Null(rule.QuickMatch("anything"));
    }
}
