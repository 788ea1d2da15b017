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

    /// <summary>Edits this spec does not need, each with the reason (a main %files that lists each file needs no %exclude).</summary>
    public IReadOnlyList<string> NotNeeded { get; init; } = [];

    /// <summary>The source tree the edit was made for: where its prefork is, whether it has server/mpm/experimental.</summary>
    public MpmTree Tree { get; init; } = MpmTree.Upstream;

    /// <summary>The prefork folder %prep copies, relative to the top of the source tree.</summary>
    public string PreforkDirectory => Tree.PreforkDirectory;

    /// <summary>Where itk is built from: always the folder the ITK series patches.</summary>
    public string ItkDirectory => MpmTree.ItkDirectory;

    /// <summary>Where prefork was found (or that it was assumed) and where itk goes, in words.</summary>
    public string Layout => Tree.Description;

    /// <summary>The macros the spec's MPM loops run over (mpms), which now name itk.</summary>
    public IReadOnlyList<string> LoopMacros { get; init; } = [];
}

/// <summary>
/// The classic mpm-itk recipe for an RPM distribution's httpd.spec (httpd 2.2): declare the
/// ITK patch series, add an httpd-itk subpackage, copy the distribution's own
/// (security-patched) prefork to experimental/itk in %prep and patch it, build, install and
/// check the extra MPM, and package /usr/sbin/httpd.itk. Two shapes of the spec are known:
/// CentOS 5's, with one <c>mpmbuild worker</c> / <c>install … httpd.worker</c> line per MPM, and
/// RHEL/CentOS 6's and Fedora's, which build, install and check the extra MPMs in loops over a
/// macro (<c>%define mpms worker event</c>; <c>for f in %{mpms}; do mpmbuild $f …; done</c>);
/// there itk is added to the macro, wherever it is defined, and the loops do the rest. Every
/// edit finds its place by the spec's structure (sections, tags, the mpmbuild calls, the
/// loops), never by line number, and is skipped when already present, so applying the editor
/// twice changes nothing.
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

    /// <summary>httpd.itk as a %files entry names it once its macros are expanded.</summary>
    private const string InstalledItk = "/usr/sbin/httpd.itk";

    private static readonly Regex PatchTag = new(@"^Patch(\d+)\s*:", RegexOptions.IgnoreCase);
    private static readonly Regex PatchMacro = new(@"^%patch(\d+|\s+-P\s*\d+|\s+\d+)?\b");
    private static readonly Regex SectionStart = new(@"^%(package|description|prep|build|install|check|clean|files|changelog|pre|post|preun|postun|triggerin|triggerun|verifyscript)\b");
    private static readonly Regex AltMpmInstall = new(@"^install\s.*\b\w+/httpd\s+(?<root>\$RPM_BUILD_ROOT|%\{buildroot\}|\$\{RPM_BUILD_ROOT\})%\{_sbindir\}/httpd\.\w+");
    private static readonly Regex MpmbuildCall = new(@"^\s*mpmbuild\s+[^\s(]");

    public SpecEditResult Edit(string text, string path = "httpd.spec", MpmTree? tree = null)
    {
        tree ??= MpmTree.Upstream;
        string nl = text.Contains("\r\n") ? "\r\n" : "\n";
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        bool finalNewline = text.EndsWith('\n');
        if (finalNewline) lines.RemoveAt(lines.Count - 1);
        var applied = new List<string>();
        var present = new List<string>();
        var notNeeded = new List<string>();
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
        int FindLast(Func<string, bool> match, int from, int to)
        {
            for (int i = Math.Min(to, lines.Count) - 1; i >= from; i--) if (match(lines[i])) return i;
            return -1;
        }
        int SectionEnd(int header) { int e = Find(l => SectionStart.IsMatch(l), header + 1); return e < 0 ? lines.Count : e; }
        (int From, int To) Body(string section)
        {
            int header = Find(l => Regex.IsMatch(l, $@"^%{section}\b"));
            return header < 0 ? (-1, -1) : (header + 1, SectionEnd(header));
        }
        string Near(int i) => i >= 0 && i < lines.Count ? lines[i] : "";
        SpecAnchorException Missing(string anchor, int near) => new(anchor, near + 1, Near(near));

        int firstSection = Find(l => SectionStart.IsMatch(l));
        int prep = Find(l => Regex.IsMatch(l, @"^%prep\b"));
        if (prep < 0) throw Missing("the %prep section", Math.Max(firstSection, 0));
        bool dashP = lines.Skip(prep).Any(l => Regex.IsMatch(l, @"^%patch\s+-P"));

        // The loop shape: macros whose definitions must name itk, with the loop that needs
        // it (the nearest line when a definition is missing). Extending the macro is the
        // distribution's own way to add an MPM: the build, install and %check loops all follow.
        var macros = new Dictionary<string, int>();
        // A loop over the extra MPMs takes itk into its list: through the macro it runs over,
        // or, for a plain list of names, on the for line itself.
        void AddToLoop(SpecLoop loop, string edit)
        {
            if (loop.ListsItk) Done(edit, true);
            else if (loop.Macros.Count > 0) { foreach (var m in loop.Macros) macros.TryAdd(m, loop.Line); }
            else { replace[loop.Line] = loop.WithItk; Done(edit, false); }
        }

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
            string itk = MpmTree.ItkDirectory;
            var block = new List<string> { "", "# mpm-itk: start from this package's prefork, with its security fixes" };
            if (!tree.HasExperimental) block.Add($"# (this tree has no server/mpm/experimental; the ITK series patches {itk}, so -p makes it)");
            // -p: a tree without server/mpm/experimental gets one; with it, mkdir -p is mkdir.
            block.AddRange([$"mkdir -p {itk}/", $"cp {tree.PreforkDirectory}/* {itk}/", $"mv {itk}/prefork.c {itk}/itk.c"]);
            block.AddRange(Series.Select(s => dashP ? $"%patch -P {s.Number} -p1" : $"%patch{s.Number} -p1"));
            InsertBefore(lastPatch + 1, block);
            Done("%prep itk copy", false);
        }

        // 4. %build: "mpmbuild itk" before "mpmbuild worker" (CentOS 5), or itk in the list
        //    of the loop that runs mpmbuild over the extra MPMs (RHEL/CentOS 6, Fedora).
        var build = Body("build");
        if (Has(@"^\s*mpmbuild\s+itk\b")) Done("mpmbuild itk", true);
        else if (SpecLoop.In(lines, build.From, build.To).FirstOrDefault(l => l.BodyUses(@"\bmpmbuild\s+""?VAR")) is { } buildLoop)
            AddToLoop(buildLoop, "mpmbuild itk");
        else
        {
            int worker = Find(l => Regex.IsMatch(l, @"^\s*mpmbuild\s+worker\b"), build.From, build.To);
            if (build.From < 0 || worker < 0)
            {
                int near = build.From < 0 ? Math.Max(firstSection, 0) : Math.Max(FindLast(l => MpmbuildCall.IsMatch(l), build.From, build.To), build.From - 1);
                throw Missing("'mpmbuild worker' in %build, or a loop there that runs mpmbuild over the extra MPMs (for f in %{mpms}; do mpmbuild $f ...; done)", near);
            }
            string indent = lines[worker][..(lines[worker].Length - lines[worker].TrimStart().Length)];
            InsertBefore(worker, [indent + "mpmbuild itk --enable-modules=none"]);
            Done("mpmbuild itk", false);
        }

        // 5. %install: httpd.itk after the other alternative-MPM installs, or itk in the list
        //    of the loop that installs them (install -m 755 ${f}/httpd …/httpd.${f}).
        var install = Body("install");
        if (Has(@"%\{_sbindir\}/httpd\.itk\s*$") && Has(@"^install\s.*itk/httpd")) Done("install httpd.itk", true);
        else if (SpecLoop.In(lines, Math.Max(install.From, 0), Math.Max(install.To, 0)).FirstOrDefault(l => l.BodyUses(@"/httpd\.VAR")) is { } installLoop)
            AddToLoop(installLoop, "install httpd.itk");
        else
        {
            int last = -1; string root = "$RPM_BUILD_ROOT";
            for (int i = 0; i < lines.Count; i++)
            {
                var m = AltMpmInstall.Match(lines[i]);
                if (m.Success) { last = i; root = m.Groups["root"].Value; }
            }
            if (last < 0) throw Missing("the alternative-MPM installs in %install (install -m 755 worker/httpd ...httpd.worker, or a loop: for f in %{mpms}; do install -m 755 ${f}/httpd ...httpd.${f}; done)", Math.Max(install.From - 1, 0));
            InsertBefore(last + 1, [$"install -m 755 itk/httpd {root}%{{_sbindir}}/httpd.itk"]);
            Done("install httpd.itk", false);
        }

        // 6. %check: the loop that compares each MPM's httpd with prefork's also covers itk.
        var check = Body("check");
        if (check.From >= 0)
        {
            var loop = SpecLoop.In(lines, check.From, check.To).FirstOrDefault(l => l.Variable == "mpm" || l.BodyUses(@"VAR/httpd\b"));
            if (loop is null) throw Missing("the 'for mpm in ...; do' loop in %check", check.From - 1);
            AddToLoop(loop, "%check itk");
        }

        // 6b. The loop shape: itk joins the macro the loops run over, in every definition of
        //     it (%define or %global, in each branch of an %if, or %{!?mpms:%global mpms ...}).
        foreach (var (name, loopLine) in macros)
        {
            var definitions = MacroDefinition.All(lines, name);
            if (definitions.Count == 0)
                throw Missing($"the definition of %{{{name}}} (%define {name} ... or %global {name} ...), which the loop over the extra MPMs runs over", loopLine);
            var lacking = definitions.Where(d => !d.NamesItk).ToList();
            foreach (var d in lacking) replace[d.LastLine] = d.WithItk;
            Done($"itk in %{{{name}}}", lacking.Count == 0);
        }

        // 7. httpd.itk belongs to httpd-itk: the main %files excludes it where it would take
        //    it too, that is where a glob or directory there matches it (%{_sbindir}/httpd*).
        //    A main package that lists each file needs no %exclude.
        int mainFiles = Find(l => Regex.IsMatch(l, @"^%files\s*$") || Regex.IsMatch(l, @"^%files\s+-f\s"));
        if (mainFiles < 0) throw Missing("the main %files section", Math.Max(Find(l => l.StartsWith("%files")), 0));
        if (Has(@"^%exclude\s+%\{_sbindir\}/httpd\.itk\b")) Done("%exclude httpd.itk", true);
        else
        {
            int picker = Find(l => FilesEntry.Picks(l, InstalledItk), mainFiles + 1, SectionEnd(mainFiles));
            // A list from "%files -f" is written during the build: whether it names httpd.itk cannot be seen here.
            int at = picker >= 0 ? picker + 1
                : Regex.IsMatch(lines[mainFiles], @"^%files\s+-f\s") ? mainFiles + 1 + (Near(mainFiles + 1).StartsWith("%defattr") ? 1 : 0)
                : -1;
            if (at < 0) notNeeded.Add($"%exclude httpd.itk: no line of the main %files (line {mainFiles + 1}) matches {InstalledItk}");
            else
            {
                InsertBefore(at, ["%exclude %{_sbindir}/httpd.itk"]);
                Done("%exclude httpd.itk", false);
            }
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
        return new SpecEditResult(path, text, newText, applied, present, applied.Count == 0 ? "" : TextDiff.Unified(text, newText, path, path + " (mpm-itk)"))
        {
            NotNeeded = notNeeded, Tree = tree, LoopMacros = macros.Keys.ToList(),
        };
    }
}
