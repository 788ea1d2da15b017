using System.Diagnostics;
using ItkPs.Core.Spec;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// Where itk comes from and where it is excluded: MpmTree finds the prefork of a source tree
/// (a folder or a real tarball listed by tar) and whether it has server/mpm/experimental;
/// FilesEntry decides whether a %files line takes /usr/sbin/httpd.itk, as rpm's globbing would.
/// </summary>
public class SpecSourceTreeTests
{
    private static void Tar(string dir, string tarball, string top)
    {
        var psi = new ProcessStartInfo("tar") { RedirectStandardError = true };
        foreach (var a in new[] { "-C", dir, "-czf", tarball, top }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void AnUpstreamTarballHasPreforkAndExperimental()
    {
        using var t = new TempDir();
        t.Write("httpd-2.2.15/server/mpm/prefork/prefork.c", "");
        t.Write("httpd-2.2.15/server/mpm/experimental/event/event.c", "");
        Tar(t.Path, Path.Combine(t.Path, "httpd-2.2.15.tar.gz"), "httpd-2.2.15");
        var tree = MpmTree.Inspect(Path.Combine(t.Path, "httpd-2.2.15.tar.gz"));
        Assert.Equal("server/mpm/prefork", tree.PreforkDirectory);
        Assert.True(tree.HasExperimental);
        Assert.Equal("prefork: server/mpm/prefork (in httpd-2.2.15.tar.gz); itk goes to server/mpm/experimental/itk", tree.Description);
    }

    [Fact]
    public void ATreeThatMovedItsMpmsIsFoundAndHasNoExperimental()
    {
        using var t = new TempDir();
        t.Write("httpd-2.2.15/server/mpm/unix/prefork/prefork.c", "");
        t.Write("httpd-2.2.15/server/mpm/unix/event/event.c", "");
        Tar(t.Path, Path.Combine(t.Path, "moved.tar.gz"), "httpd-2.2.15");
        foreach (var source in new[] { Path.Combine(t.Path, "moved.tar.gz"), Path.Combine(t.Path, "httpd-2.2.15"), t.Path + "/" })
        {
            if (source.EndsWith('/')) File.Delete(Path.Combine(t.Path, "moved.tar.gz")); // the parent of the unpacked tree
            var tree = MpmTree.Inspect(source);
            Assert.Equal("server/mpm/unix/prefork", tree.PreforkDirectory);
            Assert.False(tree.HasExperimental, source);
        }
    }

    [Fact]
    public void ATreeWithoutPreforkIsRefusedNamingIt()
    {
        using var t = new TempDir();
        t.Write("httpd-2.4.1/server/mpm/event/event.c", "");
        var e = Assert.Throws<SourceTreeException>(() => MpmTree.Inspect(Path.Combine(t.Path, "httpd-2.4.1")));
        Assert.Contains("no prefork/prefork.c", e.Message);
        Assert.EndsWith("httpd-2.4.1", e.TreePath);
        Assert.Throws<SourceTreeException>(() => MpmTree.Inspect(Path.Combine(t.Path, "absent.tar.gz")));
    }

    [Fact]
    public void ASpecsSource0IsFoundByTheNameRpmspecExpands()
    {
        using var t = new TempDir();
        string spec = t.Write("SPECS/httpd.spec", "Name: httpd\nVersion: 2.2.15\nRelease: 1\nSummary: s\nLicense: ASL 2.0\nSource0: http://archive.apache.org/dist/httpd/%{name}-%{version}.tar.gz\n%description\nd\n");
        Assert.Equal("httpd-2.2.15.tar.gz", MpmTree.Source0Name(spec));
        var logged = new List<string>();
        Assert.Same(MpmTree.Upstream, MpmTree.ForSpec(spec, [Path.Combine(t.Path, "SOURCES")], logged.Add));
        Assert.Contains(logged, l => l.Contains("httpd-2.2.15.tar.gz is not in"));

        t.Write("tree/httpd-2.2.15/server/mpm/prefork/prefork.c", "");
        Directory.CreateDirectory(Path.Combine(t.Path, "SOURCES"));
        Tar(Path.Combine(t.Path, "tree"), Path.Combine(t.Path, "SOURCES", "httpd-2.2.15.tar.gz"), "httpd-2.2.15");
        var tree = MpmTree.ForSpec(spec, [Path.Combine(t.Path, "SPECS"), Path.Combine(t.Path, "SOURCES")]);
        Assert.Equal("server/mpm/prefork", tree.PreforkDirectory);
        Assert.False(tree.HasExperimental);
        Assert.EndsWith("SOURCES/httpd-2.2.15.tar.gz", tree.Source);
    }

    [Theory]
    [InlineData("%{_sbindir}/httpd*", true)]
    [InlineData("%{_sbindir}/httpd.*", true)]
    [InlineData("/usr/sbin/*", true)]
    [InlineData("%{_sbindir}", true)]
    [InlineData("%{_sbindir}/", true)]
    [InlineData("%{_prefix}", true)]
    [InlineData("%_sbindir/httpd*", true)]
    [InlineData("%attr(0755,root,root) %{_sbindir}/httpd*", true)]
    [InlineData("%{_sbindir}/httpd.{worker,itk}", true)]
    [InlineData("%{_sbindir}/httpd.[iw]*", true)]
    [InlineData("%{_sbindir}/httpd.[!i]*", false)]
    [InlineData("%{_sbindir}/httpd.{worker,event}", false)]
    [InlineData("%{_sbindir}/httpd", false)]
    [InlineData("%{_sbindir}/httpd.worker", false)]
    [InlineData("%{_sbindir}/*/httpd.itk", false)]
    [InlineData("%dir %{_sbindir}", false)]
    [InlineData("%exclude %{_sbindir}/httpd*", false)]
    [InlineData("%doc README", false)]
    [InlineData("%{_bindir}/*", false)]
    [InlineData("# %{_sbindir}/httpd*", false)]
    [InlineData("%{_sbindir}/httpd.{itk", false)]
    public void AFilesLineTakesHttpdItkAsRpmsGlobWould(string line, bool takes)
    {
        Assert.Equal(takes, FilesEntry.Picks(line, "/usr/sbin/httpd.itk"));
    }
}
