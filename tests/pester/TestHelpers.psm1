# Shared helpers for the Pester suites: real users, scratch folders, file snapshots.

function New-TestRoot {
    $path = Join-Path ([IO.Path]::GetTempPath()) ("itkps-pester-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $path | Out-Null
    chmod 0755 $path  # tenants must be able to traverse to their own docroots
    $path
}

function Remove-TestUser([string[]] $Name) {
    foreach ($n in $Name) {
        if (getent passwd $n) { userdel $n 2>$null | Out-Null }
        if (getent group $n) { groupdel $n 2>$null | Out-Null }
    }
}

# -Customer: an ordinary account (uid >= 1000), as hosting customers are; the system range
# (below 1000) holds fewer accounts than a thousand-tenant run needs.
function New-TestUser([string] $Name, [switch] $Customer) {
    Remove-TestUser $Name
    if ($Customer) { useradd --no-create-home --shell /usr/sbin/nologin --user-group $Name }
    else { useradd --system --no-create-home --shell /usr/sbin/nologin --user-group $Name }
    if ($LASTEXITCODE -ne 0) { throw "useradd $Name failed" }
}

# Content hash, mode, owner and mtime of every file and folder below the given roots: if
# a command changed anything at all, the snapshot differs.
function Get-TreeSnapshot([string[]] $Path) {
    foreach ($p in $Path) {
        if (-not (Test-Path $p)) { "$p <absent>"; continue }
        foreach ($line in (& find $p -printf '%p %m %u:%g %T@ %s\n' | Sort-Object)) {
            $file = $line.Split(' ')[0]
            $hash = if (Test-Path -PathType Leaf $file) { (Get-FileHash -Algorithm SHA256 $file).Hash } else { 'dir' }
            "$line $hash"
        }
    }
}

# Runs a command as another user with the kernel's own permission checks.
function Invoke-AsUser([string] $User, [string[]] $Command) {
    $out = & runuser -u $User -- @Command 2>&1
    [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out -join "`n") }
}


# Sends raw HTTP/1.1 requests on ONE connection and returns the responses (status line,
# headers, body) in order, plus whether the server closed the connection afterwards.
function Invoke-RawHttp([string] $HostName = '127.0.0.1', [int] $Port, [string[]] $Requests, [int] $TimeoutMs = 5000) {
    $client = [System.Net.Sockets.TcpClient]::new($HostName, $Port)
    try {
        $client.ReceiveTimeout = $TimeoutMs
        $stream = $client.GetStream()
        $reader = [System.IO.StreamReader]::new($stream, [System.Text.Encoding]::Latin1)
        $responses = foreach ($r in $Requests) {
            $bytes = [System.Text.Encoding]::ASCII.GetBytes($r)
            $stream.Write($bytes, 0, $bytes.Length)
            $status = $reader.ReadLine()
            if ($null -eq $status) { break }
            $headers = @{}
            while (($line = $reader.ReadLine()) -ne '') { $k, $v = $line -split ':\s*', 2; $headers[$k.ToLower()] = $v }
            $length = [int]($headers['content-length'] ?? 0)
            $buffer = [char[]]::new($length); $read = 0
            while ($read -lt $length) { $n = $reader.Read($buffer, $read, $length - $read); if ($n -le 0) { break }; $read += $n }
            [pscustomobject]@{ Status = [int]($status.Split(' ')[1]); Headers = $headers; Body = [string]::new($buffer, 0, $read) }
        }
        $closed = $false
        $client.ReceiveTimeout = 1000  # closed now, or still open a second later
        try { $closed = $reader.Read() -eq -1 } catch { $closed = $false }
        [pscustomobject]@{ Responses = @($responses); Closed = $closed }
    } finally { $client.Dispose() }
}

# Status code of one request, as curl sees it (no keep-alive, loopback only).
function Get-HttpStatus([int] $Port, [string] $HostHeader, [string] $Path, [string[]] $Extra = @()) {
    [int](& curl -s -o /dev/null -w '%{http_code}' --path-as-is -H "Host: $HostHeader" @Extra "http://127.0.0.1:$Port$Path")
}

# Starts a program with its arguments passed as they are (Start-Process would re-split them),
# optionally with standard output to a file. Returns the Process.
function Start-Tool([string] $Program, [string[]] $Arguments, [string] $StdOut) {
    $psi = [System.Diagnostics.ProcessStartInfo]::new($Program)
    foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
    if ($StdOut) {
        $psi.RedirectStandardOutput = $true
        $p = [System.Diagnostics.Process]::Start($psi)
        # the output is read whole once the program has exited (wrk and curl print little)
        $p | Add-Member -NotePropertyName OutputFile -NotePropertyValue $StdOut
        $p | Add-Member -NotePropertyName OutputText -NotePropertyValue $p.StandardOutput.ReadToEndAsync() -PassThru
    } else { [System.Diagnostics.Process]::Start($psi) }
}

# Polls a condition until it holds; throws when the time is up (a test never waits forever).
function Wait-Until([scriptblock] $Condition, [double] $TimeoutSeconds = 15, [string] $What = 'condition') {
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "timed out after $TimeoutSeconds s waiting for $What" }
        Start-Sleep -Milliseconds 20
    }
}

# The head of an Apache + mpm-itk configuration for tests: its own pid, mutex and error log
# under $Dir, prefork + itk, and the modules the vhost files use. Callers append the rest.
function Get-ApacheTestConfig([string] $Dir, [string[]] $Modules = @('authz_core', 'dir')) {
    @(
        'ServerRoot /etc/apache2', 'ServerName localhost', "PidFile $Dir/apache.pid", "Mutex file:$Dir default", "ErrorLog $Dir/apache-error.log"
        'LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so'
        'LoadModule mpm_itk_module /usr/lib/apache2/modules/mpm_itk.so'
        $Modules | ForEach-Object { "LoadModule $($_)_module /usr/lib/apache2/modules/mod_$_.so" }
    ) -join "`n"
}

Export-ModuleMember -Function Get-ApacheTestConfig, New-TestRoot, Remove-TestUser, New-TestUser, Get-TreeSnapshot, Invoke-AsUser, Invoke-RawHttp, Get-HttpStatus, Start-Tool, Wait-Until
