using System.Diagnostics;
using ItkPs.Core.Spec;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// The in-memory unified diff is what patch(1) applies: for each pair of texts, the real
/// patch turns the old text into the new one with our diff, and the hunk headers read as diff -u's.
/// </summary>
public class TextDiffTests
{
    private static readonly string Ten = string.Concat(Enumerable.Range(1, 10).Select(i => $"line {i}\n"));
    private static readonly string Forty = string.Concat(Enumerable.Range(1, 40).Select(i => $"line {i}\n"));

    public static IEnumerable<object[]> Pairs =>
    [
        ["one line changed", Ten, Ten.Replace("line 5\n", "line five\n")],
        ["added at the start", Ten, "new first\n" + Ten],
        ["added at the end", Ten, Ten + "new last\n"],
        ["two changes far apart (two hunks)", Forty, Forty.Replace("line 3\n", "x\n").Replace("line 35\n", "y\n")],
        ["two changes close together (one hunk)", Forty, Forty.Replace("line 10\n", "x\n").Replace("line 15\n", "y\n")],
        ["lines removed", Forty, Forty.Replace("line 20\nline 21\nline 22\n", "")],
        ["a final newline added", "a\nb\nc", "a\nb\nc\n"],
        ["a final newline removed", "a\nb\nc\n", "a\nb\nc"],
        ["no final newline on either side", "a\nb\nc", "a\nB\nc"],
        ["from empty", "", "a\nb\n"],
        ["to empty", "a\nb\n", ""],
        ["CRLF lines", "a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n"],
    ];

    [Theory]
    [MemberData(nameof(Pairs))]
    public void PatchAppliesTheDiffAndGetsTheNewText(string name, string oldText, string newText)
    {
        using var dir = new TempDir();
        string file = dir.Write("f", oldText);
        string diff = TextDiff.Unified(oldText, newText, "f", "f");
        var psi = new ProcessStartInfo("patch") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--batch", "--no-backup-if-mismatch", "-r", "-", file }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(diff);
        p.StandardInput.Close();
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{name}: patch failed: {output}\n{diff}");
        Assert.Equal(newText, File.ReadAllText(file));
    }

    [Fact]
    public void HunkHeadersCountLinesAsDiffDoes()
    {
        string diff = TextDiff.Unified(Forty, Forty.Replace("line 3\n", "x\n").Replace("line 35\n", "y\n"), "old", "new");
        Assert.StartsWith("--- old\n+++ new\n@@ -1,6 +1,6 @@\n line 1\n line 2\n-line 3\n+x\n line 4\n", diff);
        Assert.Contains("@@ -32,7 +32,7 @@\n", diff);
        Assert.Equal("", TextDiff.Unified("same\n", "same\n", "a", "b"));
        Assert.EndsWith("-c\n\\ No newline at end of file\n+c\n", TextDiff.Unified("a\nb\nc", "a\nb\nc\n", "a", "b"));
    }
}
