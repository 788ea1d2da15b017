using System.Collections.Concurrent;
using System.Globalization;
using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using ItkPs.Core.Htaccess;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Mono.Unix.Native;

namespace ItkPs.Server;

/// <summary>
/// Static files for one vhost, read with the worker's (the vhost user's) own permissions: the
/// kernel decides what may be opened. Range, ETag/Last-Modified and conditional GET and HEAD
/// come from ASP.NET's file result; the type, encoding and language are those the request engine
/// found (mod_mime: no Content-Type when the extension is unknown, as Apache 2.4), and the ETag
/// has FileETag's parts, weak while the file is less than a second old (as Apache makes it).
/// Small files asked for whole are kept in memory (at most <see cref="CacheLimit"/> per worker,
/// dropped when the worker idles) and served again while the stat the request engine took of the
/// path is unchanged in every field: the stat is taken anyway, the open, read and close are saved.
/// The bytes are this user's, read with this user's permissions, and stay in this user's process.
/// </summary>
public sealed class StaticFiles
{
    private static readonly HashSet<string> KnownMethods = ["PUT", "DELETE", "CONNECT", "TRACE", "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"];

    /// <summary>Apache's ETag: the FileETag parts (inode, size, mtime in microseconds) in hex, weak when the file changed within the last second.</summary>
    /// <remarks>
    /// A negotiated (MultiViews) response merges the variant-list validator into it as Apache 2.4
    /// writes it: <c>"parts;validator</c>, weak when either is, and without a closing quote.
    /// </remarks>
    public static string? ETag(FileStat st, ETagBits bits, DateTime requestStart, string? vlist = null)
    {
        if (bits == ETagBits.None) return null;
        long mtimeUs = st.MtimeSec * 1_000_000 + st.MtimeNsec / 1000;
        long nowUs = (requestStart - DateTime.UnixEpoch).Ticks / 10;
        var parts = new List<string>(3);
        if (bits.HasFlag(ETagBits.Inode)) parts.Add(st.Inode.ToString("x", CultureInfo.InvariantCulture));
        if (bits.HasFlag(ETagBits.Size)) parts.Add(st.Size.ToString("x", CultureInfo.InvariantCulture));
        if (bits.HasFlag(ETagBits.MTime)) parts.Add(mtimeUs.ToString("x", CultureInfo.InvariantCulture));
        bool weak = nowUs - mtimeUs <= 1_000_000;
        if (vlist is null) return $"{(weak ? "W/" : "")}\"{string.Join('-', parts)}\"";
        if (vlist.StartsWith("W/", StringComparison.Ordinal)) { weak = true; vlist = vlist[2..]; }
        return $"{(weak ? "W/" : "")}\"{string.Join('-', parts)};{vlist.Trim('"')}";
    }

    /// <summary>
    /// Serves a regular file the pipeline has found (and the kernel let it stat);
    /// <paramref name="statOfPath"/>: <paramref name="st"/> is this request's stat of exactly this path (the cache's condition).
    /// </summary>
    public async Task ServeAsync(HttpContext context, string path, FileStat st, string? contentType, ETagBits etagBits,
        string? encoding, string? language, bool plain, DateTime requestStart, string? vlist = null, bool statOfPath = false)
    {
        var request = context.Request;
        var response = context.Response;
        // Apache's default handler answers POST on a file like GET (the body is read and dropped).
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method) && !HttpMethods.IsPost(request.Method))
        {
            response.Headers.Allow = "GET,HEAD,OPTIONS";
            // Apache: OPTIONS answers, methods it knows are not allowed on a file, others are not implemented.
            response.StatusCode = HttpMethods.IsOptions(request.Method) ? 200 : KnownMethods.Contains(request.Method) ? 405 : 501;
            return;
        }
        var modified = DateTimeOffset.FromUnixTimeSeconds(st.MtimeSec);
        string? etagText = ETag(st, etagBits, requestStart, vlist);
        if (encoding is not null) response.Headers.ContentEncoding = encoding;
        if (language is not null) response.Headers.ContentLanguage = language;

        if (st.Size <= SmallFile && (plain || IsPlain(request)))
        {
            // A small file asked for whole and unconditionally (most requests): its bytes from memory
            // when the stat the request took is the one they were read under, else one read, here,
            // from the page cache; then one write with its length. No stream, no thread-pool read.
            byte[]? rented = null;
            ReadOnlyMemory<byte> body;
            string lastModified;
            if (statOfPath && _cache.TryGetValue(path, out var hit) && hit.Stat == st)
            {
                body = hit.Bytes;
                lastModified = hit.LastModified;
            }
            else
            {
                bool keep = statOfPath && Cacheable(st, requestStart);
                byte[] buffer = keep ? new byte[st.Size] : rented = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Max(1, st.Size));
                var (length, errno) = NativeRead.Read(path, buffer.AsSpan(0, (int)st.Size));
                if (errno != 0)
                {
                    if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
                    if (errno is not (Errno.EACCES or Errno.EPERM or Errno.ENOENT or Errno.ENOTDIR or Errno.ENAMETOOLONG or Errno.EISDIR))
                        throw new IOException($"{path}: {Stdlib.strerror(errno)}");
                    response.StatusCode = StatusFor(errno);
                    return;
                }
                body = buffer.AsMemory(0, length);
                lastModified = modified.ToString("R");
                if (keep && length == st.Size) Remember(path, new CachedFile(st, buffer, lastModified));
            }
            try
            {
                if (contentType is not null) response.ContentType = contentType;
                response.ContentLength = body.Length;
                response.Headers.AcceptRanges = "bytes";
                if (etagText is not null) response.Headers.ETag = etagText;
                response.Headers.LastModified = lastModified;
                if (!HttpMethods.IsHead(request.Method)) await response.Body.WriteAsync(body);
            }
            finally { if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented); }
            return;
        }

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1,
                st.Size > SmallFile ? FileOptions.SequentialScan : FileOptions.None);
        }
        catch (UnauthorizedAccessException) { response.StatusCode = 403; return; }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { response.StatusCode = 404; return; }
        if (plain)
        {
            // an error document: the whole file with the error's status, no ranges or validators
            await using (stream)
            {
                if (contentType is not null) response.ContentType = contentType;
                response.ContentLength = stream.Length;
                if (!HttpMethods.IsHead(request.Method)) await stream.CopyToAsync(response.Body);
            }
            return;
        }
        // a negotiated ETag is not a well-formed entity tag (see ETag): sent as it is, not used for preconditions
        if (vlist is not null && etagText is not null) { response.Headers.ETag = etagText; etagText = null; }
        await TypedResults.Stream(stream, contentType, null, modified, etagText is null ? null : EntityTagHeaderValue.Parse(etagText), enableRangeProcessing: true).ExecuteAsync(context);
    }

    private const long SmallFile = 64 * 1024;

    // ------------------------------------------------------------------ small files in memory

    /// <summary>A small file's bytes, read under <see cref="Stat"/>.</summary>
    private sealed record CachedFile(FileStat Stat, byte[] Bytes, string LastModified);

    /// <summary>What the cache may hold in all, per worker (so per tenant).</summary>
    public const long CacheLimit = 2 << 20;

    private readonly ConcurrentDictionary<string, CachedFile> _cache = new(StringComparer.Ordinal);
    private long _cached;

    /// <summary>What the kept files count for now: their bytes, keys and bookkeeping (for the tests).</summary>
    public long CachedBytes => Interlocked.Read(ref _cached);

    /// <summary>
    /// Whether a file's bytes may be kept, to be served again while a new stat of the path is equal
    /// in every field (device, inode, size, mode, owner, mtime and ctime to the nanosecond): any
    /// write, truncation, chmod, chown, rename over it or re-pointed link changes one of them. The
    /// kernel stamps times from a coarse clock (a few ms), so two writes of the same length within
    /// one tick could leave an equal stat: a file changed (or dated) within the last second is
    /// therefore read each time and never kept, as Apache makes its ETag weak for that second.
    /// </summary>
    public static bool Cacheable(FileStat st, DateTime requestStart)
    {
        long nowSec = (long)(requestStart - DateTime.UnixEpoch).TotalSeconds;
        return st.Kind == FileKind.Regular && st.Size <= SmallFile && Math.Max(st.CtimeSec, st.MtimeSec) < nowSec - 1;
    }

    /// <summary>What an entry is counted as: its bytes, its key and the bookkeeping (so that a tenant's many empty files fill the cache too).</summary>
    private static long Cost(string path, CachedFile file) => file.Bytes.Length + 2L * path.Length + EntryOverhead;

    private const int EntryOverhead = 256;

    private void Remember(string path, CachedFile file)
    {
        // bounded: when full, everything goes and the cache fills again with what is asked for now
        if (Interlocked.Add(ref _cached, Cost(path, file)) > CacheLimit) DropCache();
        if (_cache.TryAdd(path, file)) return;
        if (_cache.TryGetValue(path, out var old) && _cache.TryUpdate(path, file, old)) Interlocked.Add(ref _cached, -Cost(path, old));
        else Interlocked.Add(ref _cached, -Cost(path, file));
    }

    /// <summary>Forgets every kept file (an idle worker's trim; a full cache).</summary>
    public void DropCache()
    {
        foreach (var key in _cache.Keys)
            if (_cache.TryRemove(key, out var gone)) Interlocked.Add(ref _cached, -Cost(key, gone));
    }

    /// <summary>No Range and no precondition: the answer is the whole file with 200.</summary>
    private static bool IsPlain(HttpRequest r)
    {
        var h = r.Headers;
        return h.Range.Count == 0 && h.IfMatch.Count == 0 && h.IfNoneMatch.Count == 0
            && h.IfModifiedSince.Count == 0 && h.IfUnmodifiedSince.Count == 0 && h.IfRange.Count == 0;
    }

    public static int StatusFor(Errno e) => e switch
    {
        Errno.EACCES or Errno.EPERM => 403,
        Errno.ENOENT or Errno.ENOTDIR => 404,
        Errno.ENAMETOOLONG or Errno.EISDIR => 403,
        _ => 500,
    };
}
