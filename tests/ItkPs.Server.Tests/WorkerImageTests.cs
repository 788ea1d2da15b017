using ItkPs.Core.Unix;
using ItkPs.Server.Privileged;
using Mono.Unix.Native;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>
/// The master starts workers (as root, before they drop to the site's user) from the worker image
/// only when nobody but root could have put or changed that file: real files, owners and modes
/// (the tests run as root, as the master does; uid 54321 stands for a tenant).
/// </summary>
public sealed class WorkerImageTests : IDisposable
{
    private readonly string _dir = Path.Combine("/tmp", "itkps-image-" + Guid.NewGuid().ToString("N"));

    public WorkerImageTests()
    {
        Directory.CreateDirectory(_dir);
        Assert.Equal(0, Syscall.chmod(_dir, (FilePermissions)0x1ED)); // 0755, root's
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private string Image(uint mode, uint owner = 0, string name = "itkd-worker")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, [0x7f, (byte)'E', (byte)'L', (byte)'F']);
        Assert.Equal(0, Syscall.chmod(path, (FilePermissions)mode));
        Assert.Equal(0, Syscall.chown(path, (int)owner, 0));
        return path;
    }

    private static (int Fd, string? Problem) Open(string path)
    {
        var r = WorkerImage.OpenChecked(path, SystemAccounts.Instance);
        if (r.Fd >= 0) Native.close(r.Fd);
        return r;
    }

    [Fact]
    public void ARootOnlyExecutableIsTaken()
    {
        var (fd, problem) = Open(Image(0x1ED)); // 0755
        Assert.True(fd >= 0, problem);
        Assert.Null(problem);
    }

    [Theory]
    [InlineData(0x1FD, "writable by its group")]   // 0775
    [InlineData(0x1EF, "writable by its group or by others")] // 0757
    [InlineData(0x1A4, "not executable")]          // 0644
    public void AFileOthersCouldChangeOrNotRunIsRefused(uint mode, string expected)
    {
        var (fd, problem) = Open(Image(mode));
        Assert.Equal(-1, fd);
        Assert.Contains(expected, problem);
    }

    [Fact]
    public void AFileOfAnotherUserIsRefused()
    {
        var (fd, problem) = Open(Image(0x1ED, owner: 54321));
        Assert.Equal(-1, fd);
        Assert.Contains("owned by uid 54321", problem);
    }

    [Fact]
    public void ASymbolicLinkIsNotFollowed()
    {
        string target = Image(0x1ED, name: "real");
        string link = Path.Combine(_dir, "itkd-worker");
        Assert.Equal(0, Syscall.symlink(target, link));
        var (fd, problem) = Open(link);
        Assert.Equal(-1, fd);
        Assert.NotNull(problem);
    }

    [Fact]
    public void AFolderATenantCanWriteIsRefused()
    {
        string path = Image(0x1ED);
        Assert.Equal(0, Syscall.chown(_dir, 54321, 0));
        var (fd, problem) = Open(path);
        Assert.Equal(-1, fd);
        Assert.Contains("can be changed by", problem);
    }

    [Fact]
    public void AMissingImageIsReportedNotThrown()
    {
        var (fd, problem) = Open(Path.Combine(_dir, "itkd-worker"));
        Assert.Equal(-1, fd);
        Assert.Contains("itkd-worker", problem);
    }
}
