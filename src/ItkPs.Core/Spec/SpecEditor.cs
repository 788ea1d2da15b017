using System.Text;
using System.Text.RegularExpressions;

namespace ItkPs.Core.Spec;

/// <summary>A structural anchor of httpd.spec that an edit needs and did not find.</summary>
public sealed class SpecAnchorException : Exception
{
    public SpecAnchorException(string anchor, int nearestLine, string nearestText)
        : base($"httpd.spec: cannot find {anchor}; nearest line {nearestLine}: '{nearestText.Trim()}'. Nothing was written.")
    {
        Anchor = anchor; NearestLine = nearestLine; NearestText = nearestText;
    }

    public string Anchor { get; }
    public int NearestLine { get; }
    public string NearestText { get; }
}

/// <summary>The result of editing a spec: the new text, which edits were made, and a unified diff.</summary>
public sealed record SpecEditResult(string Path, string OriginalText, string Text, IReadOnlyList<string> Applied, IReadOnlyList<string> AlreadyPresent, string Diff)
{
    public bool Changed => Applied.Count > 0;
    public bool AlreadyEdited => Applied.Count == 0;
}

/// <summary>
/// The classic mpm-itk recipe for an RPM distribution's httpd.spec (CentOS 5, httpd 2.2):
/// declare the ITK patch series, add an httpd-itk subpackage, copy the distribution's own
/// (security-patched) prefork to experimental/itk in %prep and patch it, build, install and
/// check the extra MPM, and package /usr/sbin/httpd.itk. Every edit finds its place by the
/// spec's structure (sections, tags, the mpmbuild calls), never by line number, and is skipped
/// when already present, so applying the editor twice changes nothing.
/// </summary>
public sealed class SpecEditor
{
    /// <summary>The ITK series as applied on top of the distribution's prefork (01 and the monolithic patch are deliberately not used).</summary>
    public static readonly IReadOnlyList<string> PatchNames =
    [
        "02-rename-prefork-to-itk", "03-add-mpm-to-build-system", "04-correct-output-makefile-location",
        "05-add-copyright", "06-hook-just-after-merging-perdir-config", "07-base-functionality",
        "08-max-clients-per-vhost", "09-capabilities", "10-nice", "11-fix-htaccess-reads-for-persistent-connections",
    ];

    public SpecEditor(string itkVersion = "2.2.17-01", int patchNumberBase = 402)
    {
        if (!Regex.IsMatch(itkVersion, @"^\d+\.\d+\.\d+-\d+$")) throw new ArgumentException($"-ItkVersion '{itkVersion}' is not like 2.2.17-01.", nameof(itkVersion));
        if (patchNumberBase < 0 || patchNumberBase > 99990) throw new ArgumentOutOfRangeException(nameof(patchNumberBase));
        ItkVersion = itkVersion; PatchNumberBase = patchNumberBase;
    }

    public string ItkVersion { get; }
    public int PatchNumberBase { get; }

    public string PatchUrl(string name) => $"http://mpm-itk.sesse.net/apache2.2-mpm-itk-{ItkVersion}/{name}.patch";
    public IEnumerable<(int Number, string File)> Series => PatchNames.Select((n, i) => (PatchNumberBase + i, n + ".patch"));

    private static readonly Regex PatchTag = new(@"^Patch(\d+)\s*:", RegexOptions.IgnoreCase);
    private static readonly Regex PatchMacro = new(@"^%patch(\d+|\s+-P\s*\d+|\s+\d+)?\b");
    private static readonly Regex SectionStart = new(@"^%(package|description|prep|build|install|check|clean|files|changelog|pre|post|preun|postun|triggerin|triggerun|verifyscript)\b");
    private static readonly Regex AltMpmInstall = new(@"^install\s.*\b\w+/httpd\s+(?<root>\$RPM_BUILD_ROOT|%\{buildroot\}|\$\{RPM_BUILD_ROOT\})%\{_sbindir\}/httpd\.\w+");
    private static readonly Regex CheckLoop = new(@"^(?<head>\s*for\s+mpm\s+in\s+)(?<list>[^;]*?)(?<tail>\s*;\s*do\b.*)$");

    public SpecEditResult Edit(string text, string path = "httpd.spec")
    {
        string nl = text.Contains("\r\n") ? "\r\n" : "\n";
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        bool finalNewline = text.EndsWith('\n');
        if (finalNewline) lines.RemoveAt(lines.Count - 1);
        var applied = new List<string>();
        var present = new List<string>();
        // Inserts are collected against original line indexes and applied at the end, so
        // every anchor is searched in the untouched spec.
        var inserts = new SortedDictionary<int, List<string>>();
        var replace = new Dictionary<int, string>();
        void InsertBefore(int index, IEnumerable<string> block)
        {
            if (!inserts.TryGetValue(index, out var list)) inserts[index] = list = new();
            list.AddRange(block);
        }
        void Done(string what, bool already) => (already ? present : applied).Add(what);
        bool Has(string pattern) => lines.Any(l => Regex.IsMatch(l, pattern));
        int Find(Func<string, bool> match, int from = 0, int to = int.MaxValue)
        {
            for (int i = from; i < Math.Min(to, lines.Count); i++) if (match(lines[i])) return i;
            return -1;
        }
        int SectionEnd(int header) { int e = Find(l => SectionStart.IsMatch(l), header + 1); return e < 0 ? lines.Count : e; }
        string Near(int i) => i >= 0 && i < lines.Count ? lines[i] : "";
        SpecAnchorException Missing(string anchor, int near) => new(anchor, near + 1, Near(near));

        int firstSection = Find(l => SectionStart.IsMatch(l));
        int prep = Find(l => Regex.IsMatch(l, @"^%prep\b"));
        if (prep < 0) throw Missing("the %prep section", Math.Max(firstSection, 0));
        bool dashP = lines.Skip(prep).Any(l => Regex.IsMatch(l, @"^%patch\s+-P"));

        // 1. The patch series after the last PatchN: tag of the preamble.
        if (Has(@"^Patch\d+\s*:.*02-rename-prefork-to-itk")) Done("Patch tags", true);
        else
        {
            int lastTag = -1;
            for (int i = 0; i < (firstSection < 0 ? lines.Count : firstSection); i++) if (PatchTag.IsMatch(lines[i])) lastTag = i;
            if (lastTag < 0) throw Missing("a PatchN: tag in the preamble", Math.Max(Find(l => l.StartsWith("Source", StringComparison.OrdinalIgnoreCase)), 0));
            var used = lines.Select(l => PatchTag.Match(l)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
            if (Series.FirstOrDefault(s => used.Contains(s.Number)) is { File: not null } clash)
                throw new SpecAnchorException($"free patch numbers from {PatchNumberBase} (Patch{clash.Number} is taken; give another -PatchNumberBase)", lastTag + 1, Near(lastTag));
            var block = new List<string> { $"# mpm-itk {ItkVersion}, applied to a copy of this package's own prefork (see %prep)" };
            block.AddRange(Series.Select(s => $"Patch{s.Number}: {PatchUrl(Path.GetFileNameWithoutExtension(s.File))}"));
            InsertBefore(lastTag + 1, block);
            Done("Patch tags", false);
        }

        // 2. The httpd-itk subpackage, before %package -n mod_ssl (or before %prep without one).
        if (Has(@"^%package\s+-n\s+httpd-itk\b")) Done("%package httpd-itk", true);
        else
        {
            int at = Find(l => Regex.IsMatch(l, @"^%package\s+-n\s+mod_ssl\b"));
            if (at < 0) at = prep;
            InsertBefore(at,
            [
                "%package -n httpd-itk",
                "Group: System Environment/Daemons",
                "Summary: MPM Itk for Apache HTTP Server",
                "URL: http://mpm-itk.sesse.net/",
                "License: ASL 2.0",
                "Requires: httpd = %{version}-%{release}",
                "",
                "%description -n httpd-itk",
                "The Apache HTTP Server MPM Itk (\"itk\") runs the requests of each virtual host",
                "under its own uid and gid (AssignUserID), so one site cannot read another's",
                "files. It is built from this package's own prefork MPM.",
                "",
            ]);
            Done("%package httpd-itk", false);
        }

        // 3. %prep: after the distribution's own %patch lines, copy prefork to itk and patch it.
        if (Has(@"server/mpm/experimental/itk/itk\.c")) Done("%prep itk copy", true);
        else
        {
            int prepEnd = SectionEnd(prep);
            int lastPatch = -1;
            for (int i = prep + 1; i < prepEnd; i++) if (PatchMacro.IsMatch(lines[i])) lastPatch = i;
            if (lastPatch < 0) throw Missing("a %patch line in %prep", prep);
            var block = new List<string>
            {
                "",
                "# mpm-itk: start from this package's prefork, with its security fixes",
                "mkdir server/mpm/experimental/itk/",
                "cp server/mpm/prefork/* server/mpm/experimental/itk/",
                "mv server/mpm/experimental/itk/prefork.c server/mpm/experimental/itk/itk.c",
            };
            block.AddRange(Series.Select(s => dashP ? $"%patch -P {s.Number} -p1" : $"%patch{s.Number} -p1"));
            InsertBefore(lastPatch + 1, block);
            Done("%prep itk copy", false);
        }

        // 4. %build: mpmbuild itk before mpmbuild worker.
        if (Has(@"^\s*mpmbuild\s+itk\b")) Done("mpmbuild itk", true);
        else
        {
            int worker = Find(l => Regex.IsMatch(l, @"^\s*mpmbuild\s+worker\b"));
            if (worker < 0) throw Missing("'mpmbuild worker' in %build", Math.Max(Find(l => l.StartsWith("%build")), 0));
            string indent = lines[worker][..(lines[worker].Length - lines[worker].TrimStart().Length)];
            InsertBefore(worker, [indent + "mpmbuild itk --enable-modules=none"]);
            Done("mpmbuild itk", false);
        }

        // 5. %install: httpd.itk after the other alternative-MPM installs.
        if (Has(@"%\{_sbindir\}/httpd\.itk\s*$") && Has(@"^install\s.*itk/httpd")) Done("install httpd.itk", true);
        else
        {
            int last = -1; string root = "$RPM_BUILD_ROOT";
            for (int i = 0; i < lines.Count; i++)
            {
                var m = AltMpmInstall.Match(lines[i]);
                if (m.Success) { last = i; root = m.Groups["root"].Value; }
            }
            if (last < 0) throw Missing("the alternative-MPM installs (install -m 755 worker/httpd ...httpd.worker) in %install", Math.Max(Find(l => l.StartsWith("%install")), 0));
            InsertBefore(last + 1, [$"install -m 755 itk/httpd {root}%{{_sbindir}}/httpd.itk"]);
            Done("install httpd.itk", false);
        }

        // 6. %check: the MPM loop also covers itk.
        int check = Find(l => Regex.IsMatch(l, @"^%check\b"));
        if (check >= 0)
        {
            int loop = Find(l => CheckLoop.IsMatch(l), check + 1, SectionEnd(check));
            if (loop < 0) throw Missing("the 'for mpm in ...; do' loop in %check", check);
            var m = CheckLoop.Match(lines[loop]);
            if (m.Groups["list"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains("itk")) Done("%check itk", true);
            else
            {
                replace[loop] = m.Groups["head"].Value + m.Groups["list"].Value.TrimEnd() + " itk" + m.Groups["tail"].Value;
                Done("%check itk", false);
            }
        }

        // 7. The main %files excludes httpd.itk (it belongs to httpd-itk), before the suexec %attr line.
        int mainFiles = Find(l => Regex.IsMatch(l, @"^%files\s*$") || Regex.IsMatch(l, @"^%files\s+-f\s"));
        if (mainFiles < 0) throw Missing("the main %files section", Math.Max(Find(l => l.StartsWith("%files")), 0));
        if (Has(@"^%exclude\s+%\{_sbindir\}/httpd\.itk\b")) Done("%exclude httpd.itk", true);
        else
        {
            int end = SectionEnd(mainFiles);
            int suexec = Find(l => l.StartsWith("%attr") && l.Contains("suexec"), mainFiles + 1, end);
            int at = suexec >= 0 ? suexec : mainFiles + 1 + (Near(mainFiles + 1).StartsWith("%defattr") ? 1 : 0);
            InsertBefore(at, ["%exclude %{_sbindir}/httpd.itk"]);
            Done("%exclude httpd.itk", false);
        }

        // 8. %files -n httpd-itk, before %files -n mod_ssl (or after the last %files section).
        if (Has(@"^%files\s+-n\s+httpd-itk\b")) Done("%files httpd-itk", true);
        else
        {
            int at = Find(l => Regex.IsMatch(l, @"^%files\s+-n\s+mod_ssl\b"));
            if (at < 0)
            {
                int lastFiles = -1;
                for (int i = 0; i < lines.Count; i++) if (lines[i].StartsWith("%files")) lastFiles = i;
                at = SectionEnd(lastFiles);
            }
            InsertBefore(at, ["%files -n httpd-itk", "%defattr(-,root,root)", "%{_sbindir}/httpd.itk", ""]);
            Done("%files httpd-itk", false);
        }

        var output = new List<string>();
        for (int i = 0; i <= lines.Count; i++)
        {
            if (inserts.TryGetValue(i, out var block)) output.AddRange(block);
            if (i < lines.Count) output.Add(replace.TryGetValue(i, out var r) ? r : lines[i]);
        }
        string newText = string.Join(nl, output) + (finalNewline ? nl : "");
        if (applied.Count == 0) newText = text;
        return new SpecEditResult(path, text, newText, applied, present, applied.Count == 0 ? "" : TextDiff.Unified(text, newText, path, path + " (mpm-itk)"));
    }
}
