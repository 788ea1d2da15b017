using ItkPs.Core.Htaccess;
using Mono.Unix.Native;
using Xunit;

namespace ItkPs.Core.Tests;

/// <summary>The request path's statx(2) reports what stat(2) reports, and refuses what is no path.</summary>
public sealed class NativeStatTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("plain.txt")]
    [InlineData("d\u00e9j\u00e0 vu/\u65e5\u672c.html")]
    public void AgreesWithStatOnEveryFieldTheEngineUses(string relative)
    {
        string path = _dir.Write(relative, "twelve bytes");
        Assert.Equal(0, Syscall.stat(path, out var st));
        Assert.Equal((Errno)0, NativeStat.Stat(path, out var mine));
        Assert.Equal(FileKind.Regular, mine.Kind);
        Assert.Equal(st.st_size, mine.Size);
        Assert.Equal(st.st_ino, mine.Inode);
        Assert.Equal(st.st_dev, mine.Device);
        Assert.Equal(st.st_uid, mine.Uid);
        Assert.Equal((uint)st.st_mode, mine.Mode);
        Assert.Equal((st.st_mtime, st.st_mtime_nsec), (mine.MtimeSec, mine.MtimeNsec));
        Assert.Equal((st.st_ctime, st.st_ctime_nsec), (mine.CtimeSec, mine.CtimeNsec));
        Assert.Equal((Errno)0, NativeStat.Stat(Path.GetDirectoryName(path)!, out var dir));
        Assert.Equal(FileKind.Directory, dir.Kind);
    }

    [Fact]
    public void ReportsTheErrnoOfAMissingFileAndOfAFileUsedAsADirectory()
    {
        string file = _dir.Write("f", "x");
        Assert.Equal(Errno.ENOENT, NativeStat.Stat(Path.Combine(_dir.Path, "nothing"), out var st));
        Assert.Equal(FileKind.None, st.Kind);
        Assert.Equal(Errno.ENOTDIR, NativeStat.Stat(file + "/.htaccess", out _));
    }

    [Fact]
    public void ANulInThePathIsNoFileRatherThanTheNameBeforeIt()
    {
        string file = _dir.Write("f", "x");
        Assert.Equal(Errno.ENOENT, NativeStat.Stat(file + "\0/ignored", out var st));
        Assert.Equal(FileKind.None, st.Kind);
        Assert.Equal(Errno.ENOENT, NativeStat.Stat("", out _));
    }

    [Fact]
    public void APathLongerThanTheStackBufferIsStatedToo()
    {
        string deep = _dir.Path;
        while (deep.Length < 1500) deep = Path.Combine(deep, new string('\u00e9', 60));
        Directory.CreateDirectory(deep);
        string file = Path.Combine(deep, "x");
        File.WriteAllText(file, "abc");
        Assert.Equal((Errno)0, NativeStat.Stat(file, out var st));
        Assert.Equal(3, st.Size);
    }
}
