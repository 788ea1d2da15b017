using ItkPs.Core.Unix;
using Mono.Unix.Native;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// Who besides root could change where a path leads, on real directories with real owners and
/// modes (the tests run as root, as the master does; uid 54321 stands for a tenant).
/// </summary>
public class PathSafetyTests
{
    private const uint Tenant = 54321;

    private static string Dir(TempDir t, string relative, uint mode, uint owner = 0)
    {
        string d = Path.Combine(t.Path, relative);
        Directory.CreateDirectory(d);
        Assert.Equal(0, Syscall.chmod(d, (FilePermissions)mode));
        Assert.Equal(0, Syscall.chown(d, (int)owner, 0));
        return d;
    }

    private static PathSafety.Writer? Check(string path) => PathSafety.UntrustedWriter(path, SystemAccounts.Instance);

    [Fact]
    public void ARootOnlyPathIsSafe()
    {
        using var t = new TempDir();
        Syscall.chmod(t.Path, (FilePermissions)0b111_101_101);
        string logs = Dir(t, "logs", 0b111_101_101);
        Assert.Null(Check(Path.Combine(logs, "access.log")));
        Assert.Null(Check(Path.Combine(logs, "not/yet/there.log")));
    }

    [Fact]
    public void ADirectoryATenantOwnsIsNot()
    {
        using var t = new TempDir();
        Syscall.chmod(t.Path, (FilePermissions)0b111_101_101);
        string logs = Dir(t, "logs", 0b111_101_101, Tenant);
        var w = Check(Path.Combine(logs, "access.log"));
        Assert.NotNull(w);
        Assert.Equal(logs, w!.Directory);
        Assert.Contains("its owner #54321", w.Who);
    }

    [Fact]
    public void AWorldWritableDirectoryIsNot()
    {
        using var t = new TempDir();
        Syscall.chmod(t.Path, (FilePermissions)0b111_101_101);
        string open = Dir(t, "open", 0b111_111_111);
        Assert.Equal("everyone", Check(Path.Combine(open, "x.sock"))!.Who);
        Assert.Equal(open, Check(Path.Combine(open, "deeper/x.log"))!.Directory);
    }

    [Fact]
    public void AStickyDirectoryIsSafeOnlyThroughAnEntryRootOwns()
    {
        using var t = new TempDir();
        Syscall.chmod(t.Path, (FilePermissions)0b111_101_101);
        string sticky = Dir(t, "sticky", 0b1_111_111_111);            // like /tmp
        string mine = Dir(t, "sticky/mine", 0b111_101_101);            // root's: others cannot rename it
        string theirs = Dir(t, "sticky/theirs", 0b111_101_101, Tenant);
        Assert.Null(Check(Path.Combine(mine, "itkd.sock")));
        Assert.NotNull(Check(Path.Combine(theirs, "itkd.sock")));
        Assert.Contains("sticky", Check(Path.Combine(sticky, "itkd.sock"))!.Who); // anyone may create that name first
    }

    [Fact]
    public void ASymlinkIsFollowedAndWhatItLeadsThroughIsJudged()
    {
        using var t = new TempDir();
        Syscall.chmod(t.Path, (FilePermissions)0b111_101_101);
        string tenantDir = Dir(t, "tenant", 0b111_101_101, Tenant);
        string safe = Dir(t, "safe", 0b111_101_101);
        // a root-owned link in a root-only directory, pointing into a tenant's directory
        Assert.Equal(0, Syscall.symlink(tenantDir, Path.Combine(safe, "logs")));
        Assert.Equal(tenantDir, Check(Path.Combine(safe, "logs/access.log"))!.Directory);
        // and one pointing into another root-only directory
        string other = Dir(t, "other", 0b111_101_101);
        Assert.Equal(0, Syscall.symlink("../other", Path.Combine(safe, "relative")));
        Assert.Null(Check(Path.Combine(safe, "relative/access.log")));
    }

    [Fact]
    public void AGroupWritableDirectoryIsNotUnlessTheGroupIsRoots()
    {
        using var t = new TempDir();
        Syscall.chmod(t.Path, (FilePermissions)0b111_101_101);
        string d = Dir(t, "group", 0b111_111_101);
        Assert.Null(Check(Path.Combine(d, "a.log")));                  // gid 0
        Assert.Equal(0, Syscall.chown(d, 0, (int)Tenant));
        Assert.Contains("the group #54321", Check(Path.Combine(d, "a.log"))!.Who);
    }
}
