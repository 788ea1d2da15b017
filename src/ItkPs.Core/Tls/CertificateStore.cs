using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ItkPs.Core.Unix;
using Mono.Unix.Native;

namespace ItkPs.Core.Tls;

/// <summary>A certificate (leaf first, then its chain) and its private key, as PEM, checked to belong together.</summary>
public sealed record CertificatePair(X509Certificate2 Leaf, string CertificatesPem, string KeyPem);

/// <summary>Where a pair was installed.</summary>
public sealed record InstalledPair(string Directory, string CertificateFile, string KeyFile);

/// <summary>
/// The per-site certificate folders: &lt;config root&gt;/tls/&lt;vhost&gt;/, owned by the site's user,
/// 0700, holding cert.pem (leaf and chain) and key.pem (0600) — readable by that user's worker and
/// by root, by nobody else. Everything root writes there is written through a descriptor of the
/// folder it checked (openat with O_NOFOLLOW|O_EXCL, then renameat): the site owns the folder and
/// may have put anything in it, but can never make root write elsewhere, and a reader sees the old
/// file or the new one, never half of one.
/// </summary>
public static partial class CertificateStore
{
    public const string FolderName = "tls";
    public const string CertificateName = "cert.pem", KeyName = "key.pem";
    private const int MaxPem = 1 << 20;

    /// <summary>The site folder of a vhost under a config root.</summary>
    public static string SiteDirectory(string configRoot, string vhostName) => Path.Combine(configRoot, FolderName, vhostName.ToLowerInvariant());

    /// <summary>
    /// Reads a certificate file (leaf, optionally its chain and its key), an optional key file and
    /// an optional chain file given by the operator, and checks the key is the leaf's. Throws
    /// <see cref="InvalidDataException"/> saying what is wrong.
    /// </summary>
    public static CertificatePair Read(string certificateFile, string? keyFile, string? chainFile)
    {
        string certText = File.ReadAllText(certificateFile);
        var certs = new X509Certificate2Collection();
        try { certs.ImportFromPem(certText); }
        catch (CryptographicException e) { throw new InvalidDataException($"'{certificateFile}' holds no readable PEM certificate: {e.Message}"); }
        if (certs.Count == 0) throw new InvalidDataException($"'{certificateFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        if (chainFile is not null)
        {
            try { certs.ImportFromPem(File.ReadAllText(chainFile)); }
            catch (CryptographicException e) { throw new InvalidDataException($"'{chainFile}' holds no readable PEM certificate: {e.Message}"); }
        }
        string keySource = keyFile ?? certificateFile;
        string keyPem = FindKey(keyFile is null ? certText : File.ReadAllText(keyFile), keySource);
        var leafPem = certs[0].ExportCertificatePem();
        X509Certificate2 leaf;
        try { leaf = X509Certificate2.CreateFromPem(leafPem, keyPem); }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"the key in '{keySource}' does not belong to the certificate in '{certificateFile}' ({e.Message}).");
        }
        var pem = new StringBuilder();
        foreach (var c in certs) pem.Append(c.ExportCertificatePem()).Append('\n');
        return new CertificatePair(leaf, pem.ToString(), keyPem.TrimEnd() + "\n");
    }

    /// <summary>The private key's PEM block in a text; encrypted keys are refused (itkd asks no pass phrase).</summary>
    private static string FindKey(string text, string source)
    {
        var rest = text.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label];
            if (label.SequenceEqual("ENCRYPTED PRIVATE KEY"))
                throw new InvalidDataException($"the key in '{source}' is encrypted: itkd's workers ask no pass phrase; decrypt it (openssl pkey -in KEY -out KEY.plain).");
            if (label.EndsWith("PRIVATE KEY")) return rest[fields.Location].ToString();
            rest = rest[fields.Location.End..];
        }
        throw new InvalidDataException($"'{source}' holds no PEM private key (-----BEGIN PRIVATE KEY-----).");
    }

    /// <summary>
    /// Run as root by Set-ItkCertificate and New-ItkVhost: installs a pair for a vhost running as
    /// <paramref name="user"/>. Throws <see cref="IOException"/> when a folder on the way is not as it
    /// must be (the tls folder someone else could change, the site folder a link or another user's).
    /// </summary>
    public static InstalledPair Install(string configRoot, string vhostName, UserAccount user, GroupAccount group, CertificatePair pair)
    {
        string site = PrepareSiteDirectory(configRoot, vhostName, user, group);
        int dir = OpenSiteDirectory(site, user);
        try
        {
            WriteAt(dir, site, KeyName, Encoding.ASCII.GetBytes(pair.KeyPem), user, group, 0x180);                 // 0600
            WriteAt(dir, site, CertificateName, Encoding.ASCII.GetBytes(pair.CertificatesPem), user, group, 0x1a4); // 0644 (in a 0700 folder)
        }
        finally { Native.close(dir); }
        return new InstalledPair(site, Path.Combine(site, CertificateName), Path.Combine(site, KeyName));
    }

    /// <summary>
    /// Makes the site folder (and the root-owned tls folder above it) and gives it to the site's
    /// user, 0700: Install writes into it as root, lego as the user. Throws <see cref="IOException"/>
    /// when a folder on the way is not as it must be.
    /// </summary>
    public static string PrepareSiteDirectory(string configRoot, string vhostName, UserAccount user, GroupAccount group)
    {
        if (user.Uid == 0) throw new IOException("a vhost's key is never kept for root.");
        string top = Path.Combine(configRoot, FolderName);
        if (!Directory.Exists(top))
        {
            Directory.CreateDirectory(top);
            Syscall.chmod(top, (FilePermissions)0x1ed); // 0755: root's, traversable by the sites
        }
        if (Syscall.lstat(top, out var tst) != 0 || (tst.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFDIR || tst.st_uid != 0 || ((uint)tst.st_mode & 0x12) != 0)
            throw new IOException($"'{top}' must be a directory of root that nobody else can write.");
        if (PathSafety.UntrustedWriter(Path.Combine(top, "x"), SystemAccounts.Instance) is { } writer)
            throw new IOException($"'{top}': {writer}; certificates are only kept where no other account can change the path.");

        string site = SiteDirectory(configRoot, vhostName);
        if (Syscall.lstat(site, out _) != 0 && Syscall.mkdir(site, (FilePermissions)0x1c0) != 0)
            throw new IOException($"cannot create '{site}': {Stdlib.GetLastError()}");
        int dir = OpenSiteDirectory(site, user);
        try
        {
            if (Native.fchown(dir, user.Uid, group.Gid) != 0 || Native.fchmod(dir, 0x1c0) != 0)
                throw new IOException($"cannot give '{site}' to {user.Name}: {LastError()}");
        }
        finally { Native.close(dir); }
        return site;
    }

    /// <summary>The site folder as a descriptor: a directory itself (never a link in its place), of root or of the site's user.</summary>
    private static int OpenSiteDirectory(string site, UserAccount user)
    {
        int dir = Native.openat(Native.AT_FDCWD, site, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOFOLLOW | Native.O_CLOEXEC, 0);
        if (dir < 0) throw new IOException($"cannot open '{site}' as a directory ({LastError()}): a link or a file may be in its place; remove it first.");
        if (Syscall.fstat(dir, out var st) != 0 || (st.st_uid != 0 && st.st_uid != user.Uid))
        {
            Native.close(dir);
            throw new IOException($"'{site}' belongs to another account than {user.Name}; remove it first.");
        }
        return dir;
    }

    /// <summary>A new file beside the old one (O_EXCL, never through a link), owned by the site, synced, then renamed over the old one.</summary>
    private static void WriteAt(int dir, string site, string name, byte[] bytes, UserAccount user, GroupAccount group, int mode)
    {
        string temp = $".{name}.{Guid.NewGuid():N}";
        int fd = Native.openat(dir, temp, Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_NOFOLLOW | Native.O_CLOEXEC, 0x180);
        if (fd < 0) throw new IOException($"cannot create '{site}/{temp}': {LastError()}");
        bool renamed = false;
        try
        {
            int done = 0;
            while (done < bytes.Length)
            {
                long n = Native.write(fd, bytes, done, bytes.Length - done);
                if (n <= 0) throw new IOException($"cannot write '{site}/{temp}': {LastError()}");
                done += (int)n;
            }
            if (Native.fchown(fd, user.Uid, group.Gid) != 0 || Native.fchmod(fd, mode) != 0 || Native.fsync(fd) != 0)
                throw new IOException($"cannot finish '{site}/{temp}': {LastError()}");
            if (Native.renameat(dir, temp, dir, name) != 0) throw new IOException($"cannot rename '{site}/{temp}' to {name}: {LastError()}");
            renamed = true;
        }
        finally
        {
            Native.close(fd);
            if (!renamed) Native.unlinkat(dir, temp, 0);
        }
    }

    /// <summary>
    /// Reads a certificate file without following a link at its end, without blocking on a FIFO and
    /// at most 1 MB: the file may sit in a folder its site owns. Given <paramref name="asUser"/>
    /// (uid, gid, groups), the file is opened with that user's rights (<see cref="OpenAsUser"/>), as
    /// the site's worker opens it. Only CERTIFICATE blocks are used (a key in the same file is never
    /// looked at).
    /// </summary>
    public static X509Certificate2Collection ReadCertificates(string path, (uint Uid, uint Gid, IReadOnlyList<uint> Groups)? asUser = null)
    {
        // O_NONBLOCK: a FIFO does not hang the caller; O_NOCTTY: a terminal the path leads to never becomes ours.
        const int flags = Native.O_RDONLY | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_NOCTTY | Native.O_CLOEXEC;
        int fd, error = 0;
        if (asUser is { } u) fd = OpenAsUser.Open(path, flags, u.Uid, u.Gid, u.Groups, out error);
        else if ((fd = Native.openat(Native.AT_FDCWD, path, flags, 0)) < 0) error = Marshal.GetLastPInvokeError();
        if (fd < 0) throw new IOException($"cannot open '{path}'{(asUser is { } who ? $" as the site's user (uid {who.Uid})" : "")}: {new System.ComponentModel.Win32Exception(error).Message}");
        try
        {
            if (Syscall.fstat(fd, out var st) != 0 || (st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG)
                throw new IOException($"'{path}' is not a regular file.");
            if (st.st_size > MaxPem) throw new IOException($"'{path}' is larger than {MaxPem} bytes.");
            var bytes = new byte[st.st_size];
            int done = 0;
            while (done < bytes.Length)
            {
                long n = Native.read(fd, bytes, done, bytes.Length - done);
                if (n <= 0) break;
                done += (int)n;
            }
            var certs = new X509Certificate2Collection();
            var text = Encoding.ASCII.GetString(bytes, 0, done).AsSpan();
            while (PemEncoding.TryFind(text, out var fields))
            {
                if (text[fields.Label].SequenceEqual("CERTIFICATE"))
                    certs.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text[fields.Base64Data].ToString())));
                text = text[fields.Location.End..];
            }
            if (certs.Count == 0) throw new IOException($"'{path}' holds no PEM certificate.");
            return certs;
        }
        finally { Native.close(fd); }
    }

    private static string LastError() => new System.ComponentModel.Win32Exception(Marshal.GetLastPInvokeError()).Message;

    private static unsafe partial class Native
    {
        public const int AT_FDCWD = -100, O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_NONBLOCK = 0x800,
            O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000;

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int openat(int dir, string path, int flags, int mode);
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int renameat(int fromDir, string from, int toDir, string to);
        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int unlinkat(int dir, string path, int flags);
        [LibraryImport("libc", SetLastError = true)]
        public static partial int fchown(int fd, uint uid, uint gid);
        [LibraryImport("libc", SetLastError = true)]
        public static partial int fchmod(int fd, int mode);
        [LibraryImport("libc", SetLastError = true)]
        public static partial int fsync(int fd);
        [LibraryImport("libc", SetLastError = true)]
        public static partial int close(int fd);
        [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
        private static partial nint WriteRaw(int fd, byte* buffer, nuint count);
        [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
        private static partial nint ReadRaw(int fd, byte* buffer, nuint count);

        public static long write(int fd, byte[] b, int offset, int count) { fixed (byte* p = b) return WriteRaw(fd, p + offset, (nuint)count); }
        public static long read(int fd, byte[] b, int offset, int count) { fixed (byte* p = b) return ReadRaw(fd, p + offset, (nuint)count); }
    }
}
