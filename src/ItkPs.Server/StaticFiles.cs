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

    /// <summary>Serves a regular file the pipeline has found (and the kernel let it stat).</summary>
    public async Task ServeAsync(HttpContext context, string path, FileStat st, string? contentType, ETagBits etagBits,
        string? encoding, string? language, bool plain, DateTime requestStart, string? vlist = null)
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
            // A small file asked for whole and unconditionally (most requests): one read, here,
            // from the page cache, and one write with its length; no stream, no thread-pool read.
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Max(1, st.Size));
            try
            {
                int length;
                try
                {
                    using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                    length = RandomAccess.Read(handle, buffer.AsSpan(0, (int)st.Size), 0);
                }
                catch (UnauthorizedAccessException) { response.StatusCode = 403; return; }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { response.StatusCode = 404; return; }
                if (contentType is not null) response.ContentType = contentType;
                response.ContentLength = length;
                response.Headers.AcceptRanges = "bytes";
                if (etagText is not null) response.Headers.ETag = etagText;
                response.Headers.LastModified = modified.ToString("R");
                if (!HttpMethods.IsHead(request.Method)) await response.Body.WriteAsync(buffer.AsMemory(0, length));
            }
            finally { System.Buffers.ArrayPool<byte>.Shared.Return(buffer); }
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
        Errno.ENAMETOOLONG => 403,
        _ => 500,
    };
}
