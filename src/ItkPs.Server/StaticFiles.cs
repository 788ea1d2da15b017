using ItkPs.Core.Config;
using ItkPs.Core.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Net.Http.Headers;
using Mono.Unix.Native;

namespace ItkPs.Server;

/// <summary>
/// Static files for one vhost, read with the worker's (the vhost user's) own permissions: the
/// kernel decides what may be opened. Range, ETag/Last-Modified and conditional GET and HEAD
/// come from ASP.NET's file result; status codes follow Apache: .ht* 403, EACCES 403,
/// missing 404, a directory without an index 403, a directory without its slash 301.
/// </summary>
public sealed class StaticFiles
{
    private readonly FileExtensionContentTypeProvider _types = LoadMimeTypes();
    private static readonly HashSet<string> KnownMethods = ["PUT", "DELETE", "CONNECT", "TRACE", "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"];

    /// <summary>/etc/mime.types as Apache's TypesConfig reads it, over ASP.NET's built-in table.</summary>
    private static FileExtensionContentTypeProvider LoadMimeTypes()
    {
        var provider = new FileExtensionContentTypeProvider();
        const string file = "/etc/mime.types";
        if (!File.Exists(file)) return provider;
        foreach (var line in File.ReadLines(file))
        {
            if (line.StartsWith('#')) continue;
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            for (int i = 1; i < parts.Length; i++) provider.Mappings["." + parts[i]] = parts[0];
        }
        return provider;
    }

    /// <summary>Serves a regular file the pipeline has found (and the kernel let it stat).</summary>
    public async Task ServeAsync(HttpContext context, string path, Stat st)
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
        var modified = DateTimeOffset.FromUnixTimeSeconds(st.st_mtime);
        // Apache's ETag shape: size and mtime (microseconds) in hex.
        string etagText = $"\"{st.st_size:x}-{st.st_mtime * 1_000_000 + st.st_mtime_nsec / 1000:x}\"";
        string contentType = _types.TryGetContentType(path, out var t) ? t : "application/octet-stream";

        if (st.st_size <= SmallFile && IsPlain(request))
        {
            // A small file asked for whole and unconditionally (most requests): one read, here,
            // from the page cache, and one write with its length; no stream, no thread-pool read.
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Max(1, st.st_size));
            try
            {
                int length;
                try
                {
                    using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                    length = RandomAccess.Read(handle, buffer.AsSpan(0, (int)st.st_size), 0);
                }
                catch (UnauthorizedAccessException) { response.StatusCode = 403; return; }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { response.StatusCode = 404; return; }
                response.ContentType = contentType;
                response.ContentLength = length;
                response.Headers.AcceptRanges = "bytes";
                response.Headers.ETag = etagText;
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
                st.st_size > SmallFile ? FileOptions.SequentialScan : FileOptions.None);
        }
        catch (UnauthorizedAccessException) { response.StatusCode = 403; return; }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { response.StatusCode = 404; return; }
        await TypedResults.Stream(stream, contentType, null, modified, new EntityTagHeaderValue(etagText), enableRangeProcessing: true).ExecuteAsync(context);
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
