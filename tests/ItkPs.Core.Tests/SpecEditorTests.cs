using System.Diagnostics;
using ItkPs.Core.Spec;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// The mpm-itk spec recipe against golden files: a CentOS 5 shaped httpd.spec and variants
/// (no mod_ssl, "%patch -P N" syntax with other numbering). Each output is accepted by the real
/// rpmspec, and applying the editor again changes nothing.
/// </summary>
public class SpecEditorTests
{
    private static string Data(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "spec", name);

    [Theory]
    [InlineData("centos5-httpd", 402)]
    [InlineData("no-mod-ssl", 402)]
    [InlineData("patch-P", 500)]
    public void EditMatchesTheGoldenFileAndIsIdempotent(string name, int patchBase)
    {
        var editor = new SpecEditor("2.2.17-01", patchBase);
        var once = editor.Edit(File.ReadAllText(Data(name + ".spec")), name + ".spec");
        Assert.Equal(8, once.Applied.Count);
        Assert.Equal(File.ReadAllText(Data(name + ".expected.spec")), once.Text);
        Assert.Contains("+%package -n httpd-itk", once.Diff);
        Assert.StartsWith($"--- {name}.spec", once.Diff);

        var twice = editor.Edit(once.Text, name + ".spec");
        Assert.True(twice.AlreadyEdited);
        Assert.Equal(once.Text, twice.Text);
        Assert.Equal(8, twice.AlreadyPresent.Count);
        Assert.Equal("", twice.Diff);
    }

    [Theory]
    [InlineData("centos5-httpd.expected.spec")]
    [InlineData("no-mod-ssl.expected.spec")]
    [InlineData("patch-P.expected.spec")]
    public void RealRpmspecParsesEveryOutput(string file)
    {
        var psi = new ProcessStartInfo("rpmspec") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-P", Data(file) }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, errors);
        // rpmspec expanded the series: the itk patches are applied in %prep, the package exists.
        Assert.Contains("%package -n httpd-itk", output);
        Assert.Contains("02-rename-prefork-to-itk.patch", output);
        Assert.Contains("mv server/mpm/experimental/itk/prefork.c server/mpm/experimental/itk/itk.c", output);
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
}
