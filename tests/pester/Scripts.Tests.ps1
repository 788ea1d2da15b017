# Site code runs as the site's user: PHP (the worker's own php-fpm, and an existing php-fpm pool),
# CGI, and Basic auth from an .htpasswd only that user can read. Real php-fpm, htpasswd,
# Apache + mpm-itk, real users; loopback only; every process started here is stopped by pid.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Port = 18221
    $script:ApachePort = 18222
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Www = Join-Path $Base 'www'
    $script:Sock = Join-Path $Base 'itkd.sock'
    $script:LogFile = Join-Path $Base 'itkd.log'
    New-TestUser 'itkt-a'; New-TestUser 'itkt-b'
    $script:Uid = @{ a = [int](id -u itkt-a); b = [int](id -u itkt-b) }

    foreach ($t in 'a', 'b') {
        $d = Join-Path $Www $t
        New-Item -ItemType Directory -Force "$d/cgi-bin", "$d/members", "$d/bob-only", "$d/by-url", "$Base/private-$t" | Out-Null
        # the site's database password: readable by the site's user alone
        Set-Content "$Base/private-$t/config.php" "<?php `$db_password = 'db-secret-of-$t';"
        Set-Content "$d/whoami.php" @"
<?php
include '$Base/private-$t/config.php';
echo 'uid=', posix_getuid(), "\n", 'own=', `$db_password, "\n";
`$other = @file_get_contents('$Base/private-' . ('$t' === 'a' ? 'b' : 'a') . '/config.php');
echo 'other=', `$other === false ? error_get_last()['message'] : 'READ', "\n";
"@
        Set-Content "$d/cgi-bin/id.cgi" @"
#!/bin/sh
printf 'Content-Type: text/plain\n\n'
echo "uid=`$(id -u)"
echo "ppid=`$PPID"
echo "own=`$(cat $Base/private-$t/config.php | head -c 40)"
echo "other=`$(cat $Base/private-$(if ($t -eq 'a') { 'b' } else { 'a' })/config.php 2>&1)"
"@
        Set-Content "$d/members/page.txt" "members of $t"
        Set-Content "$d/bob-only/page.txt" "bob's page of $t"
        Set-Content "$d/by-url/page.txt" "by-url page of $t"
        Set-Content "$d/page.txt" "page of $t"
        chmod 0755 "$d/cgi-bin/id.cgi"
    }
    # a's scripts for the protocol details
    $a = Join-Path $Www 'a'
    Set-Content "$a/env.php" '<?php foreach (["SCRIPT_FILENAME","SCRIPT_NAME","PATH_INFO","DOCUMENT_ROOT","REMOTE_ADDR","REQUEST_METHOD","QUERY_STRING","HTTPS","SERVER_PORT","REQUEST_URI","HTTP_X_TEST"] as $k) echo $k, "=", $_SERVER[$k] ?? "(unset)", "\n";'
    Set-Content "$a/post.php" '<?php $in = file_get_contents("php://input"); echo strlen($in), " ", md5($in), "\n"; foreach ($_FILES as $f) echo "file ", $f["name"], " ", $f["size"], " ", md5_file($f["tmp_name"]), "\n";'
    Set-Content "$a/big.php" '<?php while (ob_get_level()) ob_end_flush(); $chunk = str_repeat("0123456789abcdef", 65536); for ($i = 0; $i < 20; $i++) { echo $chunk; flush(); }'
    Set-Content "$a/slow.php" '<?php while (ob_get_level()) ob_end_flush(); echo "first\n"; flush(); sleep(2); echo "second\n";'
    Set-Content "$a/status.php" '<?php header("Status: 404 Not Found"); header("X-From: php"); setcookie("a", "1"); setcookie("b", "2"); echo "gone";'
    Set-Content "$a/cgi-bin/stdin.cgi" "#!/bin/sh`nprintf 'Content-Type: text/plain\n\n'`nwc -c | tr -d ' '`necho `"`$REQUEST_METHOD `$CONTENT_LENGTH `$PATH_INFO `$SCRIPT_NAME `$QUERY_STRING`""
    Set-Content "$a/cgi-bin/status.cgi" "#!/bin/sh`nprintf 'Status: 418 Teapot\nContent-Type: text/plain\n\nshort and stout\n'"
    Set-Content "$a/cgi-bin/away.cgi" "#!/bin/sh`nprintf 'Location: http://example.invalid/elsewhere\n\n'"
    Set-Content "$a/cgi-bin/local.cgi" "#!/bin/sh`nprintf 'Location: /page.txt\n\n'"
    Set-Content "$a/cgi-bin/hang.cgi" "#!/bin/sh`nexec sleep 300"
    Set-Content "$a/cgi-bin/noexec.cgi" "#!/bin/sh`necho never"
    Set-Content "$a/run.cgi" "#!/bin/sh`nprintf 'Content-Type: text/plain\n\nExecCGI ok\n'"
    foreach ($f in 'stdin', 'status', 'away', 'local', 'hang') { chmod 0755 "$a/cgi-bin/$f.cgi" }
    chmod 0755 "$a/run.cgi"
    chmod 0644 "$a/cgi-bin/noexec.cgi"

    # htpasswd files as the tool writes them, one user per format, 0640 and owned by the tenant
    $script:Htpasswd = "$Base/private-a/htpasswd"
    htpasswd -c -b -B $Htpasswd bcrypt 'pw-bcrypt' 2>$null
    htpasswd -b -m $Htpasswd apr1 'pw-apr1' 2>$null
    htpasswd -b -s $Htpasswd sha 'pw-sha' 2>$null
    htpasswd -b -B $Htpasswd bob 'pw-bob' 2>$null

    # vhosts as the cmdlets write them, plus auth and the fpm form by hand (the same file for both servers)
    New-ItkVhost -ConfigRoot $Root -Name 'a.itkt.test' -DocumentRoot $a -Listen "127.0.0.1:$Port" -User 'itkt-a' -Php FastCgi -Cgi -WarningAction SilentlyContinue
    New-ItkVhost -ConfigRoot $Root -Name 'b.itkt.test' -DocumentRoot "$Www/b" -Listen "127.0.0.1:$Port" -User 'itkt-b' -WarningAction SilentlyContinue
    $aFile = Join-Path $Root 'vhosts.d/a.itkt.test.conf'
    $bFile = Join-Path $Root 'vhosts.d/b.itkt.test.conf'
    (Get-Content -Raw $aFile) -replace '</VirtualHost>', @"
    ScriptAlias /cgi-bin/ $a/cgi-bin/
    CGIScriptTimeout 3
    <Directory $a/members>
        AuthType Basic
        AuthName "Members of a"
        AuthUserFile $Htpasswd
        Require valid-user
    </Directory>
    <Directory $a/bob-only>
        AuthType Basic
        AuthName "Bob"
        AuthUserFile $Htpasswd
        Require user bob
    </Directory>
    <Location /by-url>
        AuthType Basic
        AuthName "By URL"
        AuthUserFile $Htpasswd
        Require user apr1 bcrypt
    </Location>
</VirtualHost>
"@ | Set-Content $aFile -NoNewline
    # tenant b points its auth at a's file, and runs PHP in its own php-fpm pool
    (Get-Content -Raw $bFile) -replace '</VirtualHost>', @"
    <Directory $Www/b/members>
        AuthType Basic
        AuthName "Members of b"
        AuthUserFile $Htpasswd
        Require valid-user
    </Directory>
    <FilesMatch \.php$>
        SetHandler "proxy:unix:$Base/fpm-b.sock|fcgi://localhost"
    </FilesMatch>
</VirtualHost>
"@ | Set-Content $bFile -NoNewline

    foreach ($t in 'a', 'b') {
        chown -R "itkt-$($t):itkt-$t" "$Www/$t" "$Base/private-$t"
        chmod -R o-rwx "$Www/$t" "$Base/private-$t"
    }
    chmod 0600 "$Base/private-a/config.php" "$Base/private-b/config.php"
    chmod 0640 $Htpasswd
    chmod 0755 $Www

    # tenant b's php-fpm pool: master as root, children as itkt-b, socket only itkt-b may use
    $fpmConf = Join-Path $Base 'php-fpm.conf'
    @"
[global]
pid = $Base/php-fpm.pid
error_log = $Base/php-fpm.log
daemonize = no
[b]
user = itkt-b
group = itkt-b
listen = $Base/fpm-b.sock
listen.owner = itkt-b
listen.group = itkt-b
listen.mode = 0600
pm = static
pm.max_children = 2
"@ | Set-Content $fpmConf
    $script:PhpFpm = (Get-ChildItem /usr/sbin/php-fpm* | Select-Object -First 1).FullName
    $script:Fpm = Start-Tool $PhpFpm @('--fpm-config', $fpmConf, '--nodaemonize')
    Wait-Until { Test-Path "$Base/fpm-b.sock" } -What 'php-fpm to listen'

    $script:Server = Start-ItkServer -ConfigRoot $Root -ControlSocket $Sock -LogPath $LogFile -PhpChildren 3 -PassThru
    function Get-Body([string] $HostHeader, [string] $Path, [string[]] $Extra = @(), [int] $P = $Port) {
        (& curl -s --max-time 30 -H "Host: $HostHeader" @Extra "http://127.0.0.1:$P$Path") -join "`n"
    }
    # The php-fpm processes (master and children) running as a tenant: the worker's own PHP.
    function Get-PhpChild([string] $User) {
        @(Get-Process php-fpm* -ErrorAction SilentlyContinue | Where-Object { (Get-Content "/proc/$($_.Id)/status" -ErrorAction SilentlyContinue) -match "^Uid:\s+$($Uid[$User])\s" })
    }
    function Get-PhpMaster([string] $User) { @(Get-PhpChild $User | Where-Object { (Get-Content "/proc/$($_.Id)/cmdline" -Raw) -match 'master process' }) }
}

AfterAll {
    if ($Server -and (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue)) {
        kill -TERM $Server.Pid
        Wait-Process -Id $Server.Pid -Timeout 30 -ErrorAction SilentlyContinue
    }
    if ($Fpm -and -not $Fpm.HasExited) { kill -TERM $Fpm.Id; $Fpm.WaitForExit(10000) | Out-Null }
    Remove-TestUser 'itkt-a', 'itkt-b'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'PHP runs as the vhost''s user' {
    It 'a PHP page shows the vhost user, reads its own 0600 config and is refused the other tenant''s' {
        $out = Get-Body 'a.itkt.test' '/whoami.php'
        $out | Should -Match "(?m)^uid=$($Uid.a)$"
        $out | Should -Match '(?m)^own=db-secret-of-a$'
        $out | Should -Match '(?m)^other=.*Permission denied'
    }

    It 'the php-fpm form (SetHandler proxy:unix) runs tenant b''s page in b''s own pool' {
        $out = Get-Body 'b.itkt.test' '/whoami.php'
        $out | Should -Match "(?m)^uid=$($Uid.b)$"
        $out | Should -Match '(?m)^own=db-secret-of-b$'
        $out | Should -Match '(?m)^other=.*Permission denied'
    }

    It 'no php process runs as root, and the php-fpm master is the worker''s child and its children its own, all as itkt-a' {
        $all = @(Get-Process php-cgi*, php-fpm* -ErrorAction SilentlyContinue)
        $master = @(Get-PhpMaster 'a')
        $master.Count | Should -Be 1 -Because 'one php-fpm per worker (no php_admin_value sets here)'
        $worker = (Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a'
        (Get-Content "/proc/$($master[0].Id)/status" | Where-Object { $_ -match '^PPid:' }) -replace '\D', '' | Should -BeIn $worker.WorkerPids
        $children = @(Get-PhpChild 'a' | Where-Object Id -ne $master[0].Id)
        $children.Count | Should -BeGreaterThan 0 -Because 'pm = ondemand started children for the requests so far'
        $children.Count | Should -BeLessOrEqual 3 -Because 'Start-ItkServer -PhpChildren 3 is pm.max_children'
        foreach ($c in @($master) + $children) {
            $status = Get-Content "/proc/$($c.Id)/status"
            if ($c.Id -ne $master[0].Id) { ($status -match '^PPid:') -replace '\D', '' | Should -Be "$($master[0].Id)" }
            ($status -match '^Uid:') -split '\s+' | Select-Object -Skip 1 | Should -Be @("$($Uid.a)", "$($Uid.a)", "$($Uid.a)", "$($Uid.a)")
            ($status -match '^NoNewPrivs:') | Should -Match '1$'
            # stdin is /dev/null: php-fpm holds no pipe or terminal of the worker's on it
            (readlink "/proc/$($c.Id)/fd/0") | Should -Be '/dev/null'
        }
        foreach ($p in $all | Where-Object { $_.Id -ne $Fpm.Id }) {
            (Get-Content "/proc/$($p.Id)/status" -ErrorAction SilentlyContinue) -match '^Uid:' | Should -Not -Match '^Uid:\s+0\s' -Because "$($p.Name) $($p.Id)"
        }
    }

    It 'passes SCRIPT_FILENAME, PATH_INFO, DOCUMENT_ROOT, REMOTE_ADDR and friends as PHP expects' {
        $out = Get-Body 'a.itkt.test' '/env.php/extra/path?x=1&y=2' @('-H', 'X-Test: hello')
        $out | Should -Match "(?m)^SCRIPT_FILENAME=$([regex]::Escape("$Www/a/env.php"))$"
        $out | Should -Match '(?m)^SCRIPT_NAME=/env.php$'
        $out | Should -Match '(?m)^PATH_INFO=/extra/path$'
        $out | Should -Match "(?m)^DOCUMENT_ROOT=$([regex]::Escape("$Www/a"))$"
        $out | Should -Match '(?m)^REMOTE_ADDR=127.0.0.1$'
        $out | Should -Match '(?m)^REQUEST_METHOD=GET$'
        $out | Should -Match '(?m)^QUERY_STRING=x=1&y=2$'
        $out | Should -Match '(?m)^HTTPS=\(unset\)$'
        # UseCanonicalName Off, as Apache: the port of the Host header, 80 when it names none
        $out | Should -Match "(?m)^SERVER_PORT=80$"
        $out | Should -Match '(?m)^REQUEST_URI=/env.php/extra/path\?x=1&y=2$'
        $out | Should -Match '(?m)^HTTP_X_TEST=hello$'
    }

    It 'serves index.php as the directory index' {
        Set-Content "$Www/a/index.php" '<?php echo "index as ", posix_getuid();'
        chown itkt-a:itkt-a "$Www/a/index.php"
        Get-Body 'a.itkt.test' '/' | Should -Be "index as $($Uid.a)"
    }

    It 'takes a 5 MB POST body and a file upload' {
        $body = Join-Path $Base 'post.bin'
        $bytes = [byte[]]::new(5MB); [Random]::new(5).NextBytes($bytes); [IO.File]::WriteAllBytes($body, $bytes)
        $md5 = (Get-FileHash -Algorithm MD5 $body).Hash.ToLower()
        Get-Body 'a.itkt.test' '/post.php' @('-H', 'Content-Type: application/octet-stream', '--data-binary', "@$body") | Should -Be "$(5MB) $md5"
        $upload = Join-Path $Base 'upload.bin'
        [IO.File]::WriteAllBytes($upload, $bytes[0..(1MB - 1)])
        $umd5 = (Get-FileHash -Algorithm MD5 $upload).Hash.ToLower()
        Get-Body 'a.itkt.test' '/post.php' @('-F', "f=@$upload") | Should -Match "(?m)^file upload.bin $(1MB) $umd5$"
    }

    It 'streams a 20 MB response' {
        $out = Join-Path $Base 'big.out'
        curl -s --max-time 60 -H 'Host: a.itkt.test' -o $out "http://127.0.0.1:$Port/big.php"
        (Get-Item $out).Length | Should -Be 20MB
        $expected = [Text.Encoding]::ASCII.GetBytes('0123456789abcdef' * 65536 * 20)
        (Get-FileHash $out).Hash | Should -Be ([BitConverter]::ToString([Security.Cryptography.SHA256]::HashData($expected)) -replace '-', '')
    }

    It 'sends output as the script flushes it, not when it ends' {
        # slow.php flushes a line, sleeps 2 s, then ends: the first byte comes well before the end
        $t = (curl -s -o /dev/null -w '%{time_starttransfer} %{time_total}' -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/slow.php") -split ' '
        [double]$t[1] - [double]$t[0] | Should -BeGreaterThan 1.5
    }

    It 'passes Status and repeated headers from PHP' {
        $h = curl -s -i -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/status.php"
        $h[0] | Should -Match '^HTTP/1.1 404'
        ($h -match '^Set-Cookie:').Count | Should -Be 2
        $h -match '^X-From: php' | Should -Not -BeNullOrEmpty
    }

    It 'starts a killed php-fpm again, ends the children it left, and keeps serving' {
        $before = @(Get-PhpChild 'a')
        $master = @(Get-PhpMaster 'a')[0]
        kill -KILL $master.Id
        Wait-Until { $now = @(Get-PhpMaster 'a'); $now.Count -eq 1 -and $now[0].Id -ne $master.Id } -What 'php-fpm to be started again'
        Wait-Until { -not (Get-PhpChild 'a' | Where-Object { $before.Id -contains $_.Id }) } -What 'the old children to end'
        $codes = 1..20 | ForEach-Object { Get-HttpStatus $Port 'a.itkt.test' '/whoami.php' }
        $codes | Should -Not -Contain 0
        ($codes | Where-Object { $_ -ne 200 }) | Should -BeNullOrEmpty
        Select-String -Path $LogFile -Pattern 'E3007 PhpExited' -Quiet | Should -BeTrue
    }
}

Describe 'CGI runs as the vhost''s user' {
    It 'a CGI script under ScriptAlias runs as itkt-a, as a child of itkt-a''s worker, and is refused the other tenant''s file' {
        $out = Get-Body 'a.itkt.test' '/cgi-bin/id.cgi'
        $out | Should -Match "(?m)^uid=$($Uid.a)$"
        $worker = ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a').WorkerPids
        [int](($out -split "`n" | Where-Object { $_ -like 'ppid=*' }) -replace 'ppid=', '') | Should -BeIn $worker
        $out | Should -Match 'own=<\?php \$db_password'
        $out | Should -Match '(?m)^other=.*Permission denied'
    }

    It 'streams the request body to stdin and sets the CGI/1.1 variables' {
        $body = Join-Path $Base 'cgi.bin'
        [IO.File]::WriteAllBytes($body, [byte[]]::new(300000))
        $out = Get-Body 'a.itkt.test' '/cgi-bin/stdin.cgi/p/i?q=1' @('--data-binary', "@$body")
        $out | Should -Be "300000`nPOST 300000 /p/i /cgi-bin/stdin.cgi q=1"
    }

    It 'honours Status, Location (redirect and local) and ExecCGI' {
        Get-HttpStatus $Port 'a.itkt.test' '/cgi-bin/status.cgi' | Should -Be 418
        $away = curl -s -i -H 'Host: a.itkt.test' "http://127.0.0.1:$Port/cgi-bin/away.cgi"
        $away[0] | Should -Match ' 302 '
        $away -match '^Location: http://example.invalid/elsewhere' | Should -Not -BeNullOrEmpty
        Get-Body 'a.itkt.test' '/cgi-bin/local.cgi' | Should -Be 'page of a'
        Get-Body 'a.itkt.test' '/run.cgi' | Should -Be 'ExecCGI ok' -Because '-Cgi wrote Options +ExecCGI and AddHandler cgi-script .cgi'
        Get-HttpStatus $Port 'a.itkt.test' '/cgi-bin/noexec.cgi' | Should -Be 500 -Because 'a script without the execute bit cannot be run'
    }

    It 'ends a script that stays silent past CGIScriptTimeout with 504' {
        Get-HttpStatus $Port 'a.itkt.test' '/cgi-bin/hang.cgi' | Should -Be 504
        Wait-Until { -not (pgrep -u itkt-a -x sleep) } -What 'the hung script to be killed'
    }
}

Describe 'Basic auth from an htpasswd file only the tenant can read, agreeing with Apache' {
    BeforeAll {
        $script:Cases = @(
            ,@('members, no credentials', 'a.itkt.test', '/members/page.txt', $null, $null)
            ,@('bcrypt right', 'a.itkt.test', '/members/page.txt', 'bcrypt', 'pw-bcrypt')
            ,@('bcrypt wrong', 'a.itkt.test', '/members/page.txt', 'bcrypt', 'pw-apr1')
            ,@('apr1 right', 'a.itkt.test', '/members/page.txt', 'apr1', 'pw-apr1')
            ,@('apr1 wrong', 'a.itkt.test', '/members/page.txt', 'apr1', 'PW-APR1')
            ,@('sha right', 'a.itkt.test', '/members/page.txt', 'sha', 'pw-sha')
            ,@('sha wrong', 'a.itkt.test', '/members/page.txt', 'sha', 'pw-sha ')
            ,@('unknown user', 'a.itkt.test', '/members/page.txt', 'carol', 'pw-sha')
            ,@('missing file in members', 'a.itkt.test', '/members/none.txt', $null, $null)
            ,@('Require user bob: bob', 'a.itkt.test', '/bob-only/page.txt', 'bob', 'pw-bob')
            ,@('Require user bob: sha', 'a.itkt.test', '/bob-only/page.txt', 'sha', 'pw-sha')
            ,@('open page', 'a.itkt.test', '/page.txt', $null, $null)
            ,@('Location, no credentials', 'a.itkt.test', '/by-url/page.txt', $null, $null)
            ,@('Location, apr1', 'a.itkt.test', '/by-url/page.txt', 'apr1', 'pw-apr1')
            ,@('Location, sha not listed', 'a.itkt.test', '/by-url/page.txt', 'sha', 'pw-sha')
            ,@('b using a''s file', 'b.itkt.test', '/members/page.txt', 'sha', 'pw-sha')
        )
        function Get-AuthTable([int] $P) {
            foreach ($c in $Cases) {
                $extra = if ($c[3]) { @('-u', "$($c[3]):$($c[4])") } else { @() }
                $headers = curl -s -i -o - -H "Host: $($c[1])" @extra "http://127.0.0.1:$P$($c[2])"
                [pscustomobject]@{
                    Case = $c[0]
                    Status = [int](($headers[0] -split ' ')[1])
                    Challenge = ((@($headers -match '^WWW-Authenticate:') -replace '^WWW-Authenticate:\s*', '') -join ',').Trim()
                    Body = if ($headers[0] -match ' 200 ') { $headers[-1] } else { '' }
                }
            }
        }
        $script:ItkdAuth = @(Get-AuthTable $Port)
    }

    It 'accepts each htpasswd format with the right password and rejects the wrong one' {
        foreach ($f in 'bcrypt', 'apr1', 'sha') {
            ($ItkdAuth | Where-Object Case -eq "$f right").Status | Should -Be 200 -Because $f
            ($ItkdAuth | Where-Object Case -eq "$f right").Body | Should -Be 'members of a'
            ($ItkdAuth | Where-Object Case -eq "$f wrong").Status | Should -Be 401 -Because $f
        }
        ($ItkdAuth | Where-Object Case -eq 'members, no credentials').Challenge | Should -Be 'Basic realm="Members of a"'
        ($ItkdAuth | Where-Object Case -eq 'b using a''s file').Status | Should -Be 500 -Because 'the kernel refuses itkt-b the 0640 file of itkt-a'
    }

    It 'gives the same answers as Apache + mpm-itk on the same vhost files' {
        $conf = Join-Path $Base 'apache.conf'
        @"
$(Get-ApacheTestConfig $Base @('authz_core', 'authz_user', 'authn_core', 'authn_file', 'auth_basic', 'mime', 'dir', 'alias', 'cgi'))
TypesConfig /etc/mime.types
User www-data
Group www-data
Listen 127.0.0.1:$ApachePort
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Include $Root/vhosts.d/*.conf
"@ | Set-Content $conf
        # the same vhost files, on Apache's port
        $vhosts = Join-Path $Base 'apache-vhosts'
        New-Item -ItemType Directory $vhosts -Force | Out-Null
        foreach ($f in Get-ChildItem "$Root/vhosts.d/*.conf") {
            (Get-Content -Raw $f) -replace "127\.0\.0\.1:$Port", "127.0.0.1:$ApachePort" | Set-Content (Join-Path $vhosts $f.Name)
        }
        (Get-Content -Raw $conf) -replace [regex]::Escape("$Root/vhosts.d/*.conf"), "$vhosts/*.conf" | Set-Content $conf
        & /usr/sbin/apache2 -f $conf -t 2>&1 | Should -Match 'Syntax OK'
        $env:APACHE_RUN_DIR = $Base; $env:APACHE_LOCK_DIR = $Base; $env:APACHE_LOG_DIR = $Base
        & /usr/sbin/apache2 -f $conf -k start
        $LASTEXITCODE | Should -Be 0
        try {
            Wait-Until { (Get-HttpStatus $ApachePort 'a.itkt.test' '/page.txt') -eq 200 } -What 'Apache to answer'
            $apache = @(Get-AuthTable $ApachePort)
            # and CGI under Apache runs as the same user
            $apacheCgi = Get-Body 'a.itkt.test' '/cgi-bin/id.cgi' -P $ApachePort
        } finally {
            # never "kill 0" (the test's own process group) when Apache did not start
            if (Test-Path "$Base/apache.pid") {
                $apachePid = [int](Get-Content "$Base/apache.pid")
                kill -TERM $apachePid
                Wait-Process -Id $apachePid -Timeout 10 -ErrorAction SilentlyContinue
            }
        }
        for ($i = 0; $i -lt $Cases.Count; $i++) {
            Write-Host ("{0,-26} itkd {1}  apache {2}" -f $ItkdAuth[$i].Case, $ItkdAuth[$i].Status, $apache[$i].Status)
        }
        $diff = for ($i = 0; $i -lt $Cases.Count; $i++) {
            $x = $ItkdAuth[$i]; $y = $apache[$i]
            if ($x.Status -ne $y.Status -or $x.Challenge -ne $y.Challenge -or $x.Body -ne $y.Body) { "$($x.Case): itkd $($x.Status) '$($x.Challenge)', apache $($y.Status) '$($y.Challenge)'" }
        }
        $diff | Should -BeNullOrEmpty
        $apacheCgi | Should -Match "(?m)^uid=$($Uid.a)$"
    }
}

Describe 'php-fpm ends with its worker' {
    It 'kill -9 of the worker takes its php-fpm and php-fpm''s children with it' {
        $null = Get-Body 'a.itkt.test' '/whoami.php'
        $children = @(Get-PhpChild 'a')
        $children.Count | Should -BeGreaterThan 0
        $worker = ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a').WorkerPids
        foreach ($w in $worker) { kill -KILL $w }
        # php-fpm makes itself a session leader, out of the worker's process group: the user's
        # next worker ends it as it starts (the next request starts one)
        Get-Body 'a.itkt.test' '/whoami.php' | Should -Match "(?m)^uid=$($Uid.a)$" -Because 'the next request starts a new worker and a new php-fpm'
        Wait-Until { -not (Get-PhpChild 'a' | Where-Object { $children.Id -contains $_.Id }) } -What 'the killed worker''s php-fpm processes to end'
        # the killed worker's socket directory is removed by the next one (as the same user)
        $dirs = @(Get-ChildItem ([IO.Path]::GetTempPath()) -Directory -Filter "itkd-php-$($Uid.a)-*")
        $dirs.Name | Should -Not -Contain "itkd-php-$($Uid.a)-$($worker[0])"
        $new = ((Get-ItkServer -ControlSocket $Sock).Pools | Where-Object User -eq 'itkt-a').WorkerPids
        $dirs.Name | Should -Be @("itkd-php-$($Uid.a)-$($new[0])")
    }

    It 'Stop-ItkServer leaves no php-fpm of the tenants behind' {
        Stop-ItkServer -ControlSocket $Sock -Confirm:$false
        Wait-Until { -not (Get-Process -Id $Server.Pid -ErrorAction SilentlyContinue) } -What 'itkd to stop'
        Wait-Until { (Get-PhpChild 'a').Count -eq 0 } -What 'php-fpm of itkt-a to end'
        Get-ChildItem ([IO.Path]::GetTempPath()) -Directory -Filter "itkd-php-$($Uid.a)-*" | Should -BeNullOrEmpty
    }
}
