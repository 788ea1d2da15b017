using System.Text;
using DiffPlex;
using DiffPlex.Chunkers;

namespace ItkPs.Core.Spec;

/// <summary>
/// Unified diffs (the format of diff -u, which patch(1) applies), computed in memory with
/// DiffPlex: no temporary copies of the files, no external program.
/// </summary>
public static class TextDiff
{
    private const int Context = 3;
    private const string NoNewline = "\\ No newline at end of file\n";

    /// <summary>The unified diff from <paramref name="oldText"/> to <paramref name="newText"/>; empty when they are equal.</summary>
    public static string Unified(string oldText, string newText, string oldLabel, string newLabel)
    {
        if (oldText == newText) return "";
        // Pieces keep their line ending, so a last line without one differs from the same line
        // with one, as it does for diff(1); DiffPlex's renderer would show an empty last line instead.
        var result = Differ.Instance.CreateDiffs(oldText, newText, false, false, new LineEndingsPreservingChunker());
        IReadOnlyList<string> a = result.PiecesOld, b = result.PiecesNew;
        var blocks = result.DiffBlocks;
        var sb = new StringBuilder();
        sb.Append("--- ").Append(oldLabel).Append('\n').Append("+++ ").Append(newLabel).Append('\n');

        void Line(char prefix, string piece)
        {
            sb.Append(prefix).Append(piece);
            if (!piece.EndsWith('\n')) sb.Append('\n').Append(NoNewline);
        }

        for (int first = 0; first < blocks.Count;)
        {
            // Changes closer than two contexts apart share one hunk, as in diff -u.
            int last = first;
            while (last + 1 < blocks.Count
                   && blocks[last + 1].DeleteStartA - (blocks[last].DeleteStartA + blocks[last].DeleteCountA) <= 2 * Context)
                last++;
            int startA = Math.Max(0, blocks[first].DeleteStartA - Context);
            int startB = blocks[first].InsertStartB - (blocks[first].DeleteStartA - startA);
            int endA = Math.Min(a.Count, blocks[last].DeleteStartA + blocks[last].DeleteCountA + Context);
            int trailing = endA - (blocks[last].DeleteStartA + blocks[last].DeleteCountA);
            int endB = blocks[last].InsertStartB + blocks[last].InsertCountB + trailing;
            sb.Append("@@ -").Append(Range(startA, endA - startA)).Append(" +").Append(Range(startB, endB - startB)).Append(" @@\n");

            int pa = startA, pb = startB;
            for (int i = first; i <= last; i++)
            {
                var block = blocks[i];
                for (; pa < block.DeleteStartA; pa++, pb++) Line(' ', a[pa]);
                for (int d = 0; d < block.DeleteCountA; d++) Line('-', a[pa++]);
                for (int n = 0; n < block.InsertCountB; n++) Line('+', b[pb++]);
            }
            for (; pa < endA; pa++, pb++) Line(' ', a[pa]);
            first = last + 1;
        }
        return sb.ToString();
    }

    /// <summary>A hunk range as diff writes it: "start,count", "start" for one line, the line before for none.</summary>
    private static string Range(int start, int count) => count switch
    {
        0 => $"{start},0",
        1 => $"{start + 1}",
        _ => $"{start + 1},{count}",
    };
}
