using ItkPs.Core.Unix;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>
/// OpenAsUser as root (the test suite runs as root): the open is checked as the given user, and the
/// thread has root's file-system identity and groups again afterwards.
/// </summary>
public class OpenAsUserTests
{
    private const int O_RDONLY = 0, O_CLOEXEC = 0x80000, EACCES = 13;
    private const uint Nobody = 65534;

    private static string Line(string key) =>
        File.ReadLines("/proc/thread-self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal));

    [Fact]
    public void OpensWithTheUsersRightsAndGivesTheThreadBackItsOwn()
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests run as root");
        string dir = Directory.CreateTempSubdirectory("itkps-openas-").FullName;
        try
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherExecute);
            string secret = Path.Combine(dir, "secret"), open = Path.Combine(dir, "open");
            File.WriteAllText(secret, "root only");
            File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.WriteAllText(open, "anyone");
            File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            string uids = Line("Uid"), gids = Line("Gid"), groups = Line("Groups");

            int refused = OpenAsUser.Open(secret, O_RDONLY | O_CLOEXEC, Nobody, Nobody, [Nobody], out int error);
            Assert.Equal(-1, refused);
            Assert.Equal(EACCES, error);

            int fd = OpenAsUser.Open(open, O_RDONLY | O_CLOEXEC, Nobody, Nobody, [Nobody], out error);
            Assert.True(fd >= 0, $"errno {error}");
            using (new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true)) { }

            // root's identity is back on this thread: the same fields, and root reads the 0600 file
            Assert.Equal(uids, Line("Uid"));
            Assert.Equal(gids, Line("Gid"));
            Assert.Equal(groups, Line("Groups"));
            Assert.Equal("root only", File.ReadAllText(secret));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
