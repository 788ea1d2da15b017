# .htaccess files, mod_rewrite and per-directory settings under itkd, compared with real Apache +
# mpm-itk + mod_php serving the same tree from the same vhost file (AllowOverride All unless a
# case says otherwise). Each case of fixtures/htaccess-cases.ps1 is a vhost of its own; both
# servers run as the test user itkh-a on loopback ports 18510 (Apache) and 18511 (itkd), from a
# scratch folder /tmp/itkps-htaccess-*; every process started here is stopped by pid.
BeforeDiscovery {
    $script:Cases = . (Join-Path $PSScriptRoot 'fixtures/htaccess-cases.ps1')
    for ($i = 0; $i -lt $Cases.Count; $i++) { $Cases[$i].Index = $i }
}

BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Cases = . (Join-Path $PSScriptRoot 'fixtures/htaccess-cases.ps1')
    $script:ApachePort = 18510
    $script:ItkdPort = 18511
    $script:Base = Join-Path ([IO.Path]::GetTempPath()) ("itkps-htaccess-" + [guid]::NewGuid().ToString('N').Substring(0, 12))
    New-Item -ItemType Directory -Force "$Base/www", "$Base/private", "$Base/logs" | Out-Null
    chmod 0755 $Base "$Base/www" "$Base/logs"
    New-TestUser 'itkh-a'
    htpasswd -c -b -B "$Base/private/htpasswd" alice 'pw-alice' 2>$null
    htpasswd -b -m "$Base/private/htpasswd" bob 'pw-bob' 2>$null

    $vhosts = [Text.StringBuilder]::new()
    for ($i = 0; $i -lt $Cases.Count; $i++) {
        $c = $Cases[$i]
        $name = 'c{0:D3}.test' -f $i
        $root = Join-Path "$Base/www" ('c{0:D3}' -f $i)
        New-Item -ItemType Directory -Force $root | Out-Null
        # $php: the env.php of every case, defined by the case file (dot-sourced above)
        $files = @{ 'index.html' = "index of $name`n"; 'env.php' = $php }
        if ($c.Htaccess) { $files['.htaccess'] = $c.Htaccess }
        if ($c.Files) { foreach ($k in $c.Files.Keys) { $files[$k] = $c.Files[$k] } }
        foreach ($k in $files.Keys) {
            $path = Join-Path $root $k
            New-Item -ItemType Directory -Force (Split-Path $path) | Out-Null
            $text = [string]$files[$k]
            if ($text.StartsWith('FROM:')) { Copy-Item -LiteralPath (Resolve-Path $text.Substring(5)).ProviderPath $path }
            else { [IO.File]::WriteAllText($path, ($text -replace '\{PRIVATE\}', "$Base/private" -replace '\{ROOT\}', $root)) }
        }
        if ($c.Links) { foreach ($k in $c.Links.Keys) { ln -s $c.Links[$k] (Join-Path $root $k) } }
        Get-ChildItem -Recurse -Filter '*.cgi' $root | ForEach-Object { chmod 0755 $_.FullName }
        $override = if ($c.Override) { $c.Override } else { 'All' }
        $inDir = if ($c.InDirectory) { $c.InDirectory } else { '' }
        $extra = if ($c.Vhost) { $c.Vhost -replace '\{ROOT\}', $root } else { '' }
        [void]$vhosts.Append(@"
<VirtualHost 127.0.0.1:{PORT}>
    ServerName $name
    DocumentRoot $root
    AssignUserID itkh-a itkh-a
    ErrorLog $Base/logs/{SERVER}-$name.log
    DirectoryIndex index.php index.html
    <Directory $root>
        AllowOverride $override
        Require all granted
        $inDir
    </Directory>
    <FilesMatch "\.php$">
        SetHandler application/x-httpd-php
    </FilesMatch>
    $extra
</VirtualHost>

"@)
    }
    chown -R itkh-a:itkh-a "$Base/www" "$Base/private"
    chmod 0750 "$Base/private"
    chmod 0640 "$Base/private/htpasswd"
    # files two hours old: an ETag is weak while its file is under a second old, so the two servers could differ by timing
    & find "$Base/www" -exec touch -h -d '2 hours ago' '{}' '+'

    $common = @"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Files ".ht*">
    Require all denied
</Files>
"@
    $vhostText = $vhosts.ToString()
    ($vhostText -replace '\{PORT\}', $ItkdPort -replace '\{SERVER\}', 'itkd') | Set-Content "$Base/vhosts-itkd.conf"
    ($vhostText -replace '\{PORT\}', $ApachePort -replace '\{SERVER\}', 'apache') | Set-Content "$Base/vhosts-apache.conf"
    @"
Listen 127.0.0.1:$ItkdPort
User www-data
Group www-data
$common
Include $Base/vhosts-itkd.conf
"@ | Set-Content "$Base/itkd.conf"
    $modules = @('authz_core', 'authz_host', 'authz_user', 'authz_groupfile', 'authn_core', 'authn_file', 'auth_basic', 'access_compat', 'alias', 'dir',
        'mime', 'negotiation', 'env', 'setenvif', 'headers', 'expires', 'rewrite', 'autoindex', 'cgi')
    @"
$(Get-ApacheTestConfig $Base $modules)
LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so
TypesConfig /etc/mime.types
User www-data
Group www-data
Listen 127.0.0.1:$ApachePort
$common
Include $Base/vhosts-apache.conf
"@ | Set-Content "$Base/apache.conf"

    & /usr/sbin/apache2 -f "$Base/apache.conf" -t 2>&1 | Should -Match 'Syntax OK'
    $env:APACHE_RUN_DIR = $Base; $env:APACHE_LOCK_DIR = $Base; $env:APACHE_LOG_DIR = $Base
    & /usr/sbin/apache2 -f "$Base/apache.conf" -k start
    $script:Itkd = Start-ItkServer -ConfigPath "$Base/itkd.conf" -ControlSocket "$Base/itkd.sock" -LogPath "$Base/itkd.log" -PassThru
    Wait-Until { (Get-HttpStatus $ApachePort 'c000.test' '/index.html') -ne 0 } -What 'Apache to answer'
    Wait-Until { (Get-HttpStatus $ItkdPort 'c000.test' '/index.html') -ne 0 } -What 'itkd to answer'

    # One request with curl: status, headers (name -> values) and body.
    function Invoke-CaseRequest([int] $Port, [int] $Index, [hashtable] $Req) {
        $name = 'c{0:D3}.test' -f $Index
        $hdr = Join-Path $Base "h-$Port.txt"; $body = Join-Path $Base "b-$Port.txt"
        $target = $Req.Path -replace '\{ROOT\}', (Join-Path "$Base/www" ('c{0:D3}' -f $Index)) -replace '\{PRIVATE\}', "$Base/private"
        $a = @('-s', '--path-as-is', '-o', $body, '-D', $hdr, '-w', '%{http_code}', '--max-time', '20')
        if ($Req.AbsoluteForm) { $a += @('--request-target', "http://$name$target", '-H', 'Host: c000.test') } else { $a += @('-H', "Host: $name") }
        foreach ($h in @($Req.Headers)) { if ($h) { $a += @('-H', $h) } }
        if ($Req.User) { $a += @('-u', $Req.User) }
        switch ($Req.Method) {
            'HEAD' { $a += '-I' }
            'POST' { $a += @('-X', 'POST', '--data-binary', $Req.Data) }
        }
        $status = [int](& curl @a "http://127.0.0.1:$Port$(if ($Req.AbsoluteForm) { '/' } else { $target })")
        $headers = @{}
        foreach ($line in (Get-Content $hdr -ErrorAction SilentlyContinue)) {
            if ($line -match '^([^:\s]+):\s?(.*)$') { $k = $Matches[1].ToLowerInvariant(); $headers[$k] = @($headers[$k]) + $Matches[2].TrimEnd() | Where-Object { $null -ne $_ } }
        }
        [pscustomobject]@{ Status = $status; Headers = $headers; Body = (Get-Content -Raw $body -ErrorAction SilentlyContinue) ?? '' }
    }

    # What a case compares: status, Location, the listed headers, and the body (whole, or the listed lines of env.php).
    function Get-Comparable($Res, [hashtable] $Req) {
        $o = [ordered]@{ Status = $Res.Status; Location = ($Res.Headers['location'] -join ',') }
        foreach ($h in @($Req.Compare)) { if ($h) { $o[$h] = ($Res.Headers[$h.ToLowerInvariant()] -join ',') } }
        if ($Req.Body -eq '*') { $o.Body = $Res.Body }
        elseif ($Req.Body) { $o.Body = (($Res.Body -split "`n") | Where-Object { $_ -match "^($($Req.Body))=" }) -join "`n" }
        $o
    }
}

AfterAll {
    if (Test-Path "$Base/apache.pid") {
        $apachePid = [int](Get-Content "$Base/apache.pid")
        kill -TERM $apachePid
        Wait-Process -Id $apachePid -Timeout 15 -ErrorAction SilentlyContinue
    }
    if ($Itkd) { Stop-ItkServer -ControlSocket "$Base/itkd.sock" -Confirm:$false -ErrorAction SilentlyContinue; Wait-Process -Id $Itkd.Pid -Timeout 30 -ErrorAction SilentlyContinue }
    Remove-TestUser 'itkh-a'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'the same answers as Apache + mpm-itk for each .htaccess case' {
    It '<Name>' -ForEach $Cases {
        $problems = foreach ($req in $Requests) {
            $apache = Get-Comparable (Invoke-CaseRequest $ApachePort $Index $req) $req
            $itkd = Get-Comparable (Invoke-CaseRequest $ItkdPort $Index $req) $req
            $what = "$($req.Method ?? 'GET') $($req.Path)"
            # ITKPS_HTACCESS_REPORT=file: every compared answer, for reading what the two servers said
            if ($env:ITKPS_HTACCESS_REPORT) { [pscustomobject]@{ Case = $Name; Request = $what; Apache = $apache; Itkd = $itkd } | ConvertTo-Json -Compress -Depth 4 | Add-Content $env:ITKPS_HTACCESS_REPORT }
            if ($apache.Status -ne $req.Expect) { "$what`: Apache answered $($apache.Status), the case expects $($req.Expect)" }
            foreach ($k in $apache.Keys) {
                if ([string]$apache[$k] -cne [string]$itkd[$k]) { "$what`: $k differs: Apache '$($apache[$k])', itkd '$($itkd[$k])'" }
            }
        }
        $problems | Should -BeNullOrEmpty
    }
}

Describe '.htaccess errors and changes' {
    It 'logs a syntax error and an unknown directive with the file and line, and answers 500' {
        $unclosed = [array]::IndexOf(@($Cases.Name), 'unclosed section')
        $unknown = [array]::IndexOf(@($Cases.Name), 'unknown directive')
        Get-HttpStatus $ItkdPort ('c{0:D3}.test' -f $unclosed) '/index.html' | Should -Be 500
        Get-HttpStatus $ItkdPort ('c{0:D3}.test' -f $unknown) '/index.html' | Should -Be 500
        Wait-Until { (Get-Content -Raw "$Base/logs/itkd-$('c{0:D3}.test' -f $unknown).log" -ErrorAction SilentlyContinue) -match "Invalid command 'NoSuchDirective'" } -What 'the error log line' -TimeoutSeconds 5
        $log = Get-Content -Raw "$Base/logs/itkd-$('c{0:D3}.test' -f $unknown).log"
        $log | Should -Match ([regex]::Escape("$Base/www/$('c{0:D3}' -f $unknown)/.htaccess:1: Invalid command 'NoSuchDirective'"))
        Wait-Until { (Get-Content -Raw "$Base/logs/itkd-$('c{0:D3}.test' -f $unclosed).log" -ErrorAction SilentlyContinue) -match 'never closed' } -What 'the error log line' -TimeoutSeconds 5
        Get-Content -Raw "$Base/logs/itkd-$('c{0:D3}.test' -f $unclosed).log" | Should -Match ([regex]::Escape(".htaccess:1: <Files> is never closed"))
    }

    It 'sees a changed .htaccess on the next request, and a removed one' {
        $i = [array]::IndexOf(@($Cases.Name), 'Require all denied')
        $file = "$Base/www/$('c{0:D3}' -f $i)/.htaccess"
        $hostName = 'c{0:D3}.test' -f $i
        Get-HttpStatus $ItkdPort $hostName '/index.html' | Should -Be 403
        try {
            Set-Content $file 'Require all granted' -NoNewline -Force
            Get-HttpStatus $ItkdPort $hostName '/index.html' | Should -Be 200
            Set-Content $file 'Require all denied' -NoNewline -Force  # new contents
            Get-HttpStatus $ItkdPort $hostName '/index.html' | Should -Be 403
            Remove-Item $file -Force
            Get-HttpStatus $ItkdPort $hostName '/index.html' | Should -Be 200
        } finally { Set-Content $file 'Require all denied' -NoNewline -Force; chown itkh-a:itkh-a $file }
    }
}
