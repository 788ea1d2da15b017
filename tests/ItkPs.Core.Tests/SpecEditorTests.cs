using System.Diagnostics;
using System.Text.RegularExpressions;
using ItkPs.Core.Spec;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// The mpm-itk spec recipe against golden files: CentOS 5 shaped httpd.specs (one mpmbuild
/// line per MPM; variants without mod_ssl and with "%patch -P N" and other numbering) and the
/// loop shape of RHEL/CentOS 6 and Fedora (the extra MPMs built, installed and checked in
/// loops over %{mpms}: defined by %define, by %global in both branches of an %if, and by
/// %{!?mpms:%global ...} in a spec whose %files takes %{_sbindir}/httpd*). Each output is
/// accepted by the real rpmspec, and applying the editor again changes nothing.
/// </summary>
public class SpecEditorTests
{
    private static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "spec", name);

    private const string Classic = "Patch tags|%package httpd-itk|%prep itk copy|mpmbuild itk|install httpd.itk|%check itk|%files httpd-itk";
    private const string Loop = "Patch tags|%package httpd-itk|%prep itk copy|itk in %{mpms}|%files httpd-itk";
    private const string LoopWithExclude = "Patch tags|%package httpd-itk|%prep itk copy|itk in %{mpms}|%exclude httpd.itk|%files httpd-itk";

    [Theory]
    [InlineData("centos5-httpd", 402, Classic)]
    [InlineData("no-mod-ssl", 402, Classic)]
    [InlineData("patch-P", 500, Classic)]
    [InlineData("centos6-httpd", 402, Loop)]
    [InlineData("fedora-httpd", 402, Loop)]
    [InlineData("sbindir-glob", 402, LoopWithExclude)]
    public void EditMatchesTheGoldenFileAndIsIdempotent(string name, int patchBase, string edits)
    {
        var editor = new SpecEditor("2.2.17-01", patchBase);
        var once = editor.Edit(File.ReadAllText(Data(name + ".spec")), name + ".spec");
        Assert.Equal(edits.Split('|'), once.Applied);
        Assert.Equal(File.ReadAllText(Data(name + ".expected.spec")), once.Text);
        Assert.Contains("+%package -n httpd-itk", once.Diff);
        Assert.StartsWith($"--- {name}.spec", once.Diff);

        var twice = editor.Edit(once.Text, name + ".spec");
        Assert.True(twice.AlreadyEdited);
        Assert.Equal(once.Text, twice.Text);
        Assert.Equal(edits.Split('|'), twice.AlreadyPresent);
        Assert.Equal("", twice.Diff);
    }

    [Theory]
    [InlineData("centos5-httpd.expected.spec")]
    [InlineData("no-mod-ssl.expected.spec")]
    [InlineData("patch-P.expected.spec")]
    [InlineData("centos6-httpd.expected.spec")]
    [InlineData("fedora-httpd.expected.spec")]
    [InlineData("sbindir-glob.expected.spec")]
    public void RealRpmspecParsesEveryOutput(string file)
    {
        string output = Rpmspec(Data(file));
        // rpmspec expanded the series: the itk patches are applied in %prep, the package exists.
        Assert.Contains("%package -n httpd-itk", output);
        Assert.Contains("02-rename-prefork-to-itk.patch", output);
        Assert.Contains("mv server/mpm/experimental/itk/prefork.c server/mpm/experimental/itk/itk.c", output);
    }

    [Theory]
    [InlineData("centos6-httpd.expected.spec", "worker event itk")]
    // Not Fedora here, so the %else branch: it got itk too.
    [InlineData("fedora-httpd.expected.spec", "worker itk")]
    [InlineData("sbindir-glob.expected.spec", "worker event itk")]
    public void RpmspecExpandsTheBuildInstallAndCheckLoopsOverItk(string file, string list)
    {
        // The one edit to the macro reaches all three loops, as rpm itself expands them.
        var loops = Regex.Matches(Rpmspec(Data(file)), @"^\s*for (\w+) in (?<list>[^;\n]*)", RegexOptions.Multiline)
            .Select(m => m.Groups["list"].Value.Trim()).Where(l => l.Contains("worker")).ToList();
        Assert.Equal(new[] { list, list, list }, loops);
    }

    private static string Rpmspec(string file)
    {
        var psi = new ProcessStartInfo("rpmspec") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-P", file }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var errors = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, errors.Result);
        return output;
    }

    [Fact]
    public void ItkPatchesComeAfterTheDistributionsSecurityPatchesAndBeforeTheReleaseSed()
    {
        string text = new SpecEditor().Edit(File.ReadAllText(Data("centos5-httpd.spec"))).Text;
        int cve = text.IndexOf("%patch102 -p1", StringComparison.Ordinal);
        int itk = text.IndexOf("%patch402 -p1", StringComparison.Ordinal);
        int sed = text.IndexOf("sed \"s/@RELEASE@/", StringComparison.Ordinal);
        Assert.True(cve < itk && itk < sed, $"{cve} < {itk} < {sed}");
    }

    [Theory]
    [InlineData("%prep\n", "", "the %prep section")]
    [InlineData("mpmbuild worker --enable-modules=none\n", "", "'mpmbuild worker'")]
    [InlineData("install -m 755 event/httpd $RPM_BUILD_ROOT%{_sbindir}/httpd.event\n", "", "alternative-MPM installs")]
    [InlineData("install -m 755 worker/httpd $RPM_BUILD_ROOT%{_sbindir}/httpd.worker\n", "", "alternative-MPM installs")]
    [InlineData("Patch1: httpd-2.1.10-apctl.patch\n", "Patch401: x.patch\nPatch1: httpd-2.1.10-apctl.patch\n", "free patch numbers from 402 (Patch402")]
    public void MissingAnchorNamesItAndTheNearestLine(string remove, string replacement, string anchor)
    {
        string spec = File.ReadAllText(Data("centos5-httpd.spec"));
        if (anchor.Contains("alternative")) spec = spec.Replace("install -m 755 worker/httpd $RPM_BUILD_ROOT%{_sbindir}/httpd.worker\n", "").Replace("install -m 755 event/httpd $RPM_BUILD_ROOT%{_sbindir}/httpd.event\n", "");
        else if (anchor.StartsWith("free")) spec = spec.Replace("Patch102: httpd-2.2.3-CVE-2011-3192.patch", "Patch102: httpd-2.2.3-CVE-2011-3192.patch\nPatch402: local.patch");
        else spec = spec.Replace(remove, replacement);
        var e = Assert.Throws<SpecAnchorException>(() => new SpecEditor().Edit(spec));
        Assert.Contains(anchor, e.Message);
        Assert.True(e.NearestLine > 0);
        Assert.Contains($"nearest line {e.NearestLine}:", e.Message);
    }

    [Fact]
    public void APartlyEditedSpecIsCompleted()
    {
        var editor = new SpecEditor();
        string full = editor.Edit(File.ReadAllText(Data("centos5-httpd.spec"))).Text;
        string partial = full.Replace("mpmbuild itk --enable-modules=none\n", "").Replace("for mpm in worker itk; do", "for mpm in worker; do");
        var result = editor.Edit(partial);
        Assert.Equal(new[] { "mpmbuild itk", "%check itk" }, result.Applied);
        Assert.Equal(full, result.Text);
    }

    [Theory]
    // Neither shape: no "mpmbuild worker" and no loop that runs mpmbuild; the nearest line is the last mpmbuild call.
    [InlineData("for f in %{mpms}; do\n   mpmbuild $f --enable-modules=none\ndone\n", "", "'mpmbuild worker' in %build, or a loop", "mpmbuild prefork \\")]
    [InlineData("   mpmbuild $f --enable-modules=none\n", "   build_mpm $f\n", "'mpmbuild worker' in %build, or a loop", "mpmbuild prefork \\")]
    // The loops run over a macro the spec does not define: nowhere to add itk.
    [InlineData("%define mpms worker event\n", "", "the definition of %{mpms}", "for f in %{mpms}; do")]
    [InlineData("for f in %{mpms}; do\n  install -m 755 ${f}/httpd $RPM_BUILD_ROOT%{_sbindir}/httpd.${f}\ndone\n", "", "alternative-MPM installs", "%install")]
    [InlineData("for mpm in %{mpms}; do\n", "for x in a; do\n", "loop in %check", "%check")]
    public void MissingAnchorOfTheLoopShapeNamesItAndTheNearestLine(string remove, string replacement, string anchor, string nearest)
    {
        string spec = File.ReadAllText(Data("centos6-httpd.spec"));
        Assert.Contains(remove, spec);
        var e = Assert.Throws<SpecAnchorException>(() => new SpecEditor().Edit(spec.Replace(remove, replacement)));
        Assert.Contains(anchor, e.Message);
        Assert.Equal(nearest, e.NearestText.Trim());
        Assert.Contains($"nearest line {e.NearestLine}: '{nearest}'", e.Message);
    }

    [Fact]
    public void APartlyEditedLoopSpecIsCompleted()
    {
        // Only the macro lost itk (an update of the distribution's spec, say): only it is edited.
        var editor = new SpecEditor();
        string full = editor.Edit(File.ReadAllText(Data("fedora-httpd.spec"))).Text;
        var result = editor.Edit(full.Replace("%global mpms worker itk\n", "%global mpms worker\n"));
        Assert.Equal(new[] { "itk in %{mpms}" }, result.Applied);
        Assert.Equal(full, result.Text);
    }

    [Fact]
    public void APlainListInTheLoopsGetsItkOnEachForLine()
    {
        // No macro: the loops name the MPMs themselves, so each list takes itk.
        string spec = File.ReadAllText(Data("centos6-httpd.spec")).Replace("%define mpms worker event\n", "").Replace("%{mpms}", "worker event");
        var result = new SpecEditor().Edit(spec);
        Assert.Equal(new[] { "mpmbuild itk", "install httpd.itk", "%check itk" }, result.Applied.Skip(3).Take(3));
        Assert.Equal(3, Regex.Matches(result.Text, @"^for (f|mpm) in worker event itk; do$", RegexOptions.Multiline).Count);
        Assert.Equal(result.Text, new SpecEditor().Edit(result.Text).Text);
    }

    [Fact]
    public void TheMainPackageExcludesHttpdItkOnlyWhereItsFilesWouldTakeIt()
    {
        var editor = new SpecEditor();
        var listed = editor.Edit(File.ReadAllText(Data("centos6-httpd.spec")));
        Assert.DoesNotContain("%exclude", listed.Text);
        Assert.Contains(listed.NotNeeded, n => n.StartsWith("%exclude httpd.itk: no line of the main %files (line 210)"));

        string glob = editor.Edit(File.ReadAllText(Data("sbindir-glob.spec"))).Text;
        Assert.Contains("%{_sbindir}/httpd*\n%exclude %{_sbindir}/httpd.itk\n", glob);

        // "%files -f list": the list is written at build time, so the %exclude is always made.
        string fromList = editor.Edit(File.ReadAllText(Data("centos6-httpd.spec")).Replace("%files\n%defattr(-,root,root)\n", "%files -f main.list\n%defattr(-,root,root)\n")).Text;
        Assert.Contains("%files -f main.list\n%defattr(-,root,root)\n%exclude %{_sbindir}/httpd.itk\n", fromList);
    }

    [Fact]
    public void ATreeWithoutExperimentalGetsItCreatedAndItsOwnPreforkCopied()
    {
        var tree = new MpmTree("server/mpm/unix/prefork", HasExperimental: false, Source: "/src/httpd-2.2.15.tar.gz");
        var result = new SpecEditor().Edit(File.ReadAllText(Data("centos6-httpd.spec")), "httpd.spec", tree);
        Assert.Contains("mkdir -p server/mpm/experimental/itk/\ncp server/mpm/unix/prefork/* server/mpm/experimental/itk/\n", result.Text);
        Assert.Contains("# (this tree has no server/mpm/experimental;", result.Text);
        Assert.Equal("server/mpm/unix/prefork", result.PreforkDirectory);
        Assert.Equal("server/mpm/experimental/itk", result.ItkDirectory);
        Assert.Equal("prefork: server/mpm/unix/prefork (in httpd-2.2.15.tar.gz); itk goes to server/mpm/experimental/itk, created in %prep (this tree has no server/mpm/experimental; the ITK series patches that path)", result.Layout);
    }
}
