using System.Text;
using ItkPs.Core.Htaccess;
using ItkPs.Server;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace ItkPs.Server.Tests;

/// <summary>
/// The static handler's small files in memory: served again only while the request's stat of the
/// path equals the one they were read under, never for a file changed within the last second,
/// bounded, and dropped on request.
/// </summary>
public sealed class StaticFilesCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("itk-sfc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Status, string Body)> Get(StaticFiles files, string path, FileStat st, DateTime start)
    {
        var c = new DefaultHttpContext();
        c.Request.Method = "GET";
        var body = new MemoryStream();
        c.Response.Body = body;
        await files.ServeAsync(c, path, st, "text/plain", ETagBits.MTime | ETagBits.Size, null, null, plain: false, start, statOfPath: true);
        return (c.Response.StatusCode, Encoding.ASCII.GetString(body.ToArray()));
    }

    // a request made a minute after the file was written: old enough to be kept
    private static DateTime Later => DateTime.UtcNow.AddMinutes(1);

    [Fact]
    public async Task ServesAKeptFileWhileTheStatIsTheSame()
    {
        var files = new StaticFiles();
        string path = Path.Combine(_dir, "a.txt");
        File.WriteAllText(path, "one");
        var st = FileStat.Of(path);
        Assert.Equal((200, "one"), await Get(files, path, st, Later));
        Assert.InRange(files.CachedBytes, 3 + 2 * path.Length, 3 + 2 * path.Length + 1024);
        // gone from disk, but the request's stat (here: the same value) says nothing changed:
        // the bytes come from memory, no open
        File.Delete(path);
        Assert.Equal((200, "one"), await Get(files, path, st, Later));
    }

    [Fact]
    public async Task ReadsAgainWhenTheStatDiffers()
    {
        var files = new StaticFiles();
        string path = Path.Combine(_dir, "b.txt");
        File.WriteAllText(path, "one");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1)); // so that the next write's times differ from these
        Assert.Equal((200, "one"), await Get(files, path, FileStat.Of(path), Later));
        // same length, new content, written in place: ctime and mtime move
        File.WriteAllText(path, "two");
        var changed = FileStat.Of(path);
        Assert.Equal((200, "two"), await Get(files, path, changed, Later));
        // replaced by a rename: a new inode
        string other = Path.Combine(_dir, "b.new");
        File.WriteAllText(other, "six");
        File.Move(other, path, overwrite: true);
        long one = files.CachedBytes;
        Assert.Equal((200, "six"), await Get(files, path, FileStat.Of(path), Later));
        Assert.Equal(one, files.CachedBytes); // the new bytes replaced the old, counted once
    }

    [Fact]
    public async Task NeverKeepsAFileChangedWithinTheLastSecond()
    {
        var files = new StaticFiles();
        string path = Path.Combine(_dir, "c.txt");
        File.WriteAllText(path, "new");
        var st = FileStat.Of(path);
        Assert.False(StaticFiles.Cacheable(st, DateTime.UtcNow));
        Assert.Equal((200, "new"), await Get(files, path, st, DateTime.UtcNow));
        Assert.Equal(0, files.CachedBytes);
        File.Delete(path);
        Assert.Equal(404, (await Get(files, path, st, DateTime.UtcNow)).Status);
    }

    [Fact]
    public async Task CountsEmptyFilesToo()
    {
        var files = new StaticFiles();
        for (int i = 0; i < 20_000; i++) // 20 000 empty files: no bytes, but each an entry
        {
            string path = Path.Combine(_dir, $"e{i}");
            File.WriteAllBytes(path, []);
            Assert.Equal(200, (await Get(files, path, FileStat.Of(path), Later)).Status);
        }
        Assert.InRange(files.CachedBytes, 1, StaticFiles.CacheLimit);
    }

    [Fact]
    public async Task StaysWithinItsLimitAndDrops()
    {
        var files = new StaticFiles();
        var chunk = new string('x', 60 * 1024);
        for (int i = 0; i < 50; i++) // 3 MB asked for, more than the limit
        {
            string path = Path.Combine(_dir, $"f{i}.txt");
            File.WriteAllText(path, chunk);
            Assert.Equal(200, (await Get(files, path, FileStat.Of(path), Later)).Status);
            Assert.InRange(files.CachedBytes, 1, StaticFiles.CacheLimit);
        }
        files.DropCache();
        Assert.Equal(0, files.CachedBytes);
    }
}
