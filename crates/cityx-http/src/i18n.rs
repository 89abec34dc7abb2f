//! Interface text in Chinese (the default) and English, shared by every door that renders
//! text. Keys are looked up at render time; the web UI's tests check that every key its
//! templates use exists here ([`has`]).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// The text of one language, handed to templates as `t`.
#[derive(Clone, Copy, Debug, Default)]
pub struct T(pub Lang);

impl T {
    /// The text for `key`; the key itself when missing (visible, never a crash).
    pub fn get<'a>(&self, key: &'a str) -> &'a str {
        match lookup(key) {
            Some((zh, en)) => match self.0 {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => key,
        }
    }

    /// Text for a key built from parts, e.g. `("role.", "editor")`.
    pub fn get2(&self, prefix: &str, name: &str) -> String {
        let key = format!("{prefix}{name}");
        match lookup(&key) {
            Some(_) => self.get(&key).to_owned(),
            None => name.to_owned(),
        }
    }

    pub fn lang(&self) -> &'static str {
        self.0.code()
    }

    pub fn is_zh(&self) -> bool {
        self.0 == Lang::Zh
    }
}

impl fmt::Display for T {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code())
    }
}

macro_rules! catalog {
    ($($key:literal => $zh:literal, $en:literal;)*) => {
        fn lookup(key: &str) -> Option<(&'static str, &'static str)> {
            match key {
                $($key => Some(($zh, $en)),)*
                _ => None,
            }
        }

        #[cfg(test)]
        pub(crate) const KEYS: &[&str] = &[$($key),*];
    };
}

catalog! {
    "app.name" => "cityx", "cityx";
    "app.tagline" => "城市台融媒体交换平台", "City TV media exchange";
    "app.skip" => "跳到正文", "Skip to content";
    "app.menu" => "菜单", "Menu";
    "app.footer" => "cityx · 城市电视台融媒体云平台", "cityx · the converged-media cloud of city TV stations";
    "lang.switch" => "English", "中文";
    "lang.other" => "en", "zh";

    "nav.library" => "我的素材", "My items";
    "library.title" => "我的素材", "My items";
    "library.state" => "状态", "State";
    "library.state.all" => "全部", "All";
    "library.state.ready" => "可用", "Ready";
    "library.state.processing" => "处理中", "Processing";
    "library.state.uploading" => "上传中", "Uploading";
    "library.state.failed" => "处理失败", "Failed";
    "library.state.rejected" => "已拒收", "Rejected";
    "library.state.withdrawn" => "已撤回", "Withdrawn";
    "library.state.deleted" => "已删除（可恢复）", "Deleted (can be restored)";
    "library.filter" => "筛选", "Filter";
    "library.adoptions" => "被采用（台）", "Adopted by (stations)";
    "library.select_all" => "全选", "Select all";
    "library.selected" => "已选 {n} 条", "{n} selected";
    "library.none_selected" => "请先勾选素材。", "Tick some items first.";
    "library.delete" => "删除所选", "Delete selected";
    "library.restore" => "恢复所选", "Restore selected";
    "library.delete_confirm" => "删除所选的 {n} 条素材？删除后它们立即从交换库消失，宽限期内可以恢复。", "Delete the {n} selected items? They leave the exchange at once and can be restored during the grace period.";
    "library.bulk_deleted" => "已删除：", "Deleted: ";
    "library.bulk_restored" => "已恢复：", "Restored: ";
    "library.items_unit" => " 条", " items";
    "library.bulk_refused" => "；无法处理：", "; could not be done: ";
    "library.grace" => "删除的素材立即离开交换库，在宽限期内（到期时间见素材页）可以恢复，之后文件被清除、配额释放。", "Deleted items leave the exchange at once and can be restored during the grace period (each item's page says until when); then their files are removed and the quota released.";
    "library.none" => "没有符合条件的素材。", "No items match.";
    "nav.home" => "首页", "Home";
    "nav.exchange" => "交换", "Exchange";
    "nav.upload" => "上传素材", "Upload";
    "home.upload.desc" => "上传新闻素材：断点续传，上传后自动转码和技审。", "Contribute footage: resumable uploads, then automatic transcoding and checks.";
    "upload.title" => "上传素材", "Upload items";
    "upload.intro" => "选择一个或多个文件。上传可以暂停和继续；网络中断或关闭浏览器后，再次选择同一文件即可从中断处继续。", "Choose one or more files. Uploads can pause and resume; after a network failure or closing the browser, choose the same file again to continue where it stopped.";
    "upload.max" => "单个文件最大", "Largest file:";
    "upload.files" => "文件", "Files";
    "upload.title.hint" => "默认使用文件名", "Defaults to the file name";
    "upload.keywords.hint" => "用逗号或顿号分隔", "Separated by commas";
    "upload.start" => "开始上传", "Start upload";
    "upload.visibility" => "谁可以看到", "Who may see it";
    "upload.visibility.default" => "（默认）", " (default)";
    "upload.titles_hint" => "每个文件一条素材，标题默认取文件名，可以逐个修改。下面填写的其他信息用于全部文件。", "Each file becomes an item titled after its file name unless you change it here. The other fields below apply to every file.";
    "upload.file_title" => "标题", "Title";
    "upload.queue" => "上传列表", "Uploads";
    "import.title" => "从链接导入", "Import from a link";
    "import.intro" => "平台会从该链接下载文件，之后与上传的素材一样处理。只能使用公网上的 http 或 https 地址。", "cityx downloads the file from the link, then processes it like an upload. Only http or https addresses on the public Internet can be used.";
    "import.start" => "开始导入", "Start import";
    "done.import_started" => "已开始导入，下载进度见下方处理步骤。", "Import started; the download's progress is in the processing steps below.";
    "field.url" => "链接", "Link";
    "field.target_url" => "服务器地址", "Server address";
    "fe.bad_url" => "不是可用的 http 或 https 链接（也不能包含用户名或密码）", "is not a usable http or https link (nor may it contain a user name or password)";
    "fe.forbidden_address" => "指向非公网地址（内网、本机或保留地址），出于安全原因不能访问", "points to an address that is not on the public Internet (internal, local or reserved), which cannot be reached for security reasons";
    "fe.unresolvable_host" => "的域名无法解析", "has a host name that cannot be resolved";
    "job.import" => "下载", "Download";
    "job.live_clip" => "直播生成素材（剪辑、录像）", "Item from live (clip, recording)";
    "asset.from_live" => "来自直播频道", "From the live channel";
    "asset.import_failed" => "导入失败：", "The import failed: ";
    "asset.importing_from" => "导入来源", "Imported from";
    "upload.waiting" => "等待中…", "Waiting…";
    "upload.pause" => "暂停", "Pause";
    "upload.resume" => "继续", "Resume";
    "upload.retry" => "重试", "Retry";
    "upload.paused" => "已暂停", "Paused";
    "upload.cancel" => "取消", "Cancel";
    "upload.cancelled" => "已取消", "Cancelled";
    "upload.confirm_cancel" => "确定取消这个上传？已上传的部分将被删除。", "Cancel this upload? What was sent will be deleted.";
    "upload.done" => "上传完成，正在处理。", "Uploaded; processing has started.";
    "upload.failed" => "上传失败", "Upload failed";
    "upload.network" => "网络中断，请检查网络后点击“重试”。", "The network failed. Check it and press Retry.";
    "upload.reconnecting" => "连接中断，正在重新连接（第 {n} 次）…已上传的部分不会丢失。", "Connection lost; reconnecting (attempt {n})… Nothing sent so far is lost.";
    "upload.resumed" => "继续上次的上传", "Resuming an earlier upload";
    "upload.open" => "查看素材", "Open the item";
    "asset.title" => "标题", "Title";
    "asset.summary" => "简介", "Summary";
    "asset.script" => "文稿", "Script";
    "asset.keywords" => "关键词", "Keywords";
    "asset.category" => "分类", "Category";
    "asset.city" => "城市", "City";
    "asset.shot_date" => "拍摄日期", "Shot on";
    "asset.embargo_until" => "解禁时间", "Embargoed until";
    "asset.copyright" => "版权", "Copyright";
    "asset.licence" => "授权条款", "Licence";
    "asset.failed_because" => "处理失败：", "Processing failed: ";
    "asset.withdrawn_because" => "已撤回：", "Withdrawn: ";
    "tombstone.withdrawn" => "这条素材已被供稿台撤回，不能再播出或下载。", "The contributing station withdrew this item: it may no longer be aired or downloaded.";
    "tombstone.todo" => "请立即停播，并从本台的播出和存储系统中删除这条素材，然后确认收到通知。", "Take it off air at once and delete it from your station's playout and storage, then acknowledge this notice.";
    "tombstone.when" => "撤回时间", "Withdrawn on";
    "tombstone.why" => "撤回原因", "Why";
    "tombstone.all_notices" => "查看全部通知", "All notices";
    "asset.not_media" => "无法识别为音视频文件，请确认文件完整且为常见的视频或音频格式（MP4、MOV、MXF、MKV、TS 等）后重新上传", "This file could not be read as audio or video. Check that it is complete and in a common format (MP4, MOV, MXF, MKV, TS …), then upload it again";
    "asset.technical" => "技术参数", "Technical";
    "asset.filename" => "文件名", "File name";
    "asset.size" => "大小", "Size";
    "asset.uploaded" => "上传时间", "Uploaded";
    "asset.duplicate" => "与已有素材完全相同：", "Exactly the same file as:";
    "asset.corrected" => "已更正", "Corrected";
    "asset.corrections_see" => "查看更正记录", "See the corrections";
    "asset.corrections" => "更正记录", "Corrections";
    "asset.change_field" => "字段", "Field";
    "asset.change_before" => "更正前", "Before";
    "asset.change_after" => "更正后", "After";
    "asset.step_error_detail" => "处理出错，工具的原话：", "The step failed; the tool said: ";
    "asset.qc_seek" => "跳到此处播放", "Play from here";
    "asset.rejected_duplicate" => "与已有素材完全相同，按本平台的重复素材规则已拒收。", "It is exactly the same file as an existing item, which this platform's duplicate rule refuses.";
    "asset.deleted_until" => "此素材已删除，文件将于以下时间永久清除：", "This item was deleted. Its files are removed for good at ";
    "asset.restore" => "恢复", "Restore";
    "asset.delete" => "删除素材", "Delete item";
    "asset.delete.confirm" => "删除后宽限期内仍可恢复，之后文件将被永久清除。确定删除？", "The item can be restored during the grace period; after that its files are removed for good. Delete it?";
    "asset.steps" => "处理进度", "Processing";
    "asset.step" => "步骤", "Step";
    "asset.step_state" => "状态", "State";
    "asset.step_progress" => "进度", "Progress";
    "asset.step_error" => "原因", "Reason";
    "asset.status.uploading" => "上传中", "Uploading";
    "asset.status.processing" => "处理中", "Processing";
    "asset.status.ready" => "可用", "Ready";
    "asset.status.failed" => "处理失败", "Failed";
    "asset.status.rejected" => "已拒收", "Rejected";
    "asset.status.withdrawn" => "已撤回", "Withdrawn";
    "job.probe" => "文件分析", "Analysis";
    "job.transcode" => "转码与技审", "Transcode and QC";
    "asset.preview" => "预览", "Preview";
    "asset.fast_preview" => "正在生成多码率版本，当前为快速预览。", "A quick preview: the renditions are still being made.";
    "asset.withdrawn_no_play" => "已撤回的素材不再播放，也不能下载。", "A withdrawn item no longer plays and cannot be downloaded.";
    "asset.no_preview" => "预览将在处理完成第一个片段后出现。", "The preview appears as soon as the first segment is ready.";
    "asset.quality" => "清晰度", "Quality";
    "asset.quality_auto" => "自动", "Auto";
    "asset.thumbnails" => "缩略图", "Thumbnails";
    "asset.same_file" => "相同文件", "The same file";
    "asset.same_file_hint" => "这些素材的母版与本条逐字节相同（SHA-256 一致）。", "These items' masters are byte for byte the same as this one's (same SHA-256).";
    "asset.related" => "相关素材", "Related items";
    "asset.seek" => "进度条（悬停预览画面）", "Seek bar (hover to preview)";
    "asset.qc" => "技审报告", "Technical check";
    "asset.rejected_qc" => "技审未通过，原因见下方技审报告。", "The technical check failed; the report below says why.";
    "asset.qc_none" => "未发现问题。", "No problems found.";
    "asset.qc_check" => "检查项", "Check";
    "asset.qc_severity" => "结果", "Result";
    "asset.qc_time" => "时间码", "Time code";
    "asset.qc_value" => "实测", "Measured";
    "asset.qc_expected" => "要求", "Expected";
    "asset.loudness" => "综合响度", "Integrated loudness";
    "asset.true_peak" => "真峰值", "True peak";
    "asset.lra" => "响度范围", "Loudness range";
    "qc.pass" => "通过", "Pass";
    "qc.warn" => "警告", "Warning";
    "qc.fail" => "不通过", "Fail";
    "qc.check.video_codec" => "视频编码", "Video codec";
    "qc.check.resolution" => "分辨率", "Resolution";
    "qc.check.frame_rate" => "帧率", "Frame rate";
    "qc.check.bit_rate" => "码率", "Bit rate";
    "qc.check.audio_missing" => "无音频", "No audio";
    "qc.check.audio_channels" => "声道数", "Audio channels";
    "qc.check.sample_rate" => "采样率", "Sample rate";
    "qc.check.loudness" => "响度", "Loudness";
    "qc.check.true_peak" => "真峰值", "True peak";
    "qc.check.black" => "黑场", "Black picture";
    "qc.check.frozen" => "静帧", "Frozen picture";
    "qc.check.silence" => "静音", "Silence";
    "job.state.queued" => "排队中", "Queued";
    "job.state.running" => "进行中", "Running";
    "job.state.succeeded" => "完成", "Done";
    "job.state.dead" => "失败", "Failed";
    "nav.zones" => "专区", "Topic zones";
    "nav.live" => "直播", "Live";
    "live.title" => "直播", "Live";
    "live.intro" => "各台的直播频道：编码器推流到频道，成员台在这里观看、回看。", "The stations' live channels: an encoder publishes to a channel, and member stations watch it here and scroll back.";
    "live.new" => "新建直播频道", "New live channel";
    "live.create" => "创建频道", "Create the channel";
    "live.none" => "还没有可以观看的直播频道。", "No live channel you may watch yet.";
    "live.on_air" => "直播中", "On air";
    "live.idle" => "未开播", "Off air";
    "live.on_slate" => "信号中断·垫片", "Input lost · slate";
    "live.slate_note" => "输入信号中断，频道正在播出垫片（画面提示与静音），观众和转推目标不会断流；信号恢复后自动切回。", "The input is gone: the channel shows its slate (a card and silence) so that viewers and restream targets are not cut off, and returns to the input when it comes back.";
    "live.since" => "开播于", "since";
    "live.back" => "返回直播墙", "Back to the wall";
    "live.save" => "保存设置", "Save the settings";
    "live.settings" => "频道设置", "Channel settings";
    "live.field.name" => "频道名称", "Channel name";
    "live.field.description" => "说明", "Description";
    "live.field.visibility" => "谁可以观看", "Who may watch";
    "live.field.shared_with" => "指定电视台代码", "Station codes";
    "live.field.shared_with_hint" => "“指定成员台”可观看时填写，用逗号分开，例如 GZTV, SZTV", "For “named stations”: their codes, separated by commas, e.g. GZTV, SZTV";
    "live.field.dvr_minutes" => "回看时长（分钟）", "Time-shift window (minutes)";
    "live.field.max_kbps" => "最高码率（kbit/s）", "Highest bit rate (kbit/s)";
    "live.field.max_height" => "最大画面高度（像素）", "Tallest picture (pixels)";
    "field.dvr_minutes" => "回看时长", "Time-shift window";
    "field.max_kbps" => "最高码率", "Highest bit rate";
    "field.max_height" => "最大画面高度", "Tallest picture";
    "field.clip_in" => "入点", "In point";
    "field.clip_out" => "出点", "Out point";
    "fe.outside_window" => "不在回看范围内", "is outside the time-shift window";
    "fe.reversed" => "须早于出点", "must come before the out point";
    "fe.clip_too_long" => "剪辑最长 4 小时", "gives a clip over 4 hours";
    "fe.two_broadcasts" => "跨越了两场直播，请分别剪辑", "spans two broadcasts: clip each one";
    "fe.nothing_recorded" => "频道还没有可剪辑的内容", "has nothing recorded yet";
    "live.field.record" => "每场直播自动收录为素材（每两小时一段）", "Record every broadcast into items (a part every two hours)";
    "live.field.limits_hint" => "码率或画面超过上限的推流会被断开；填 0 表示不限。", "A publish above these limits is cut off; 0 means no limit.";
    "live.visibility.private" => "仅本台", "Own station only";
    "live.visibility.stations" => "指定成员台", "Named stations";
    "live.visibility.exchange" => "全部成员台", "Every member station";
    "live.visibility.public" => "全部成员台和公众", "Every station and the public";
    "live.key_once" => "推流密钥只显示这一次，请复制到编码器。忘记了可以更换新密钥。", "The stream key is shown this once: copy it into the encoder. If it is lost, rotate it.";
    "live.dvr_hint" => "拖动进度条可以回看，最长", "Drag the progress bar to scroll back, up to";
    "live.minutes" => "分钟。", "minutes.";
    "live.idle_note_pull" => "频道现在没有信号。它在拉取远端信号，接通后几秒内就能在这里看到。", "The channel has no signal now. It pulls a remote signal, which shows here within seconds of answering.";
    "live.idle_note" => "频道现在没有信号。编码器开始推流后，几秒内就能在这里看到。", "The channel has no signal now. Once an encoder publishes, it shows here within seconds.";
    "live.health" => "信号状态", "Input health";
    "live.health.last" => "信号状态（上次直播结束时）", "Input health (when the last broadcast ended)";
    "live.health.video" => "视频编码", "Video codec";
    "live.health.audio" => "音频编码", "Audio codec";
    "live.health.size" => "分辨率", "Resolution";
    "live.health.fps" => "帧率", "Frame rate";
    "live.health.kbps" => "码率（kbit/s）", "Bit rate (kbit/s)";
    "live.health.keyframe" => "关键帧间隔（秒）", "Keyframe interval (s)";
    "live.health.uptime" => "已推流（秒）", "Publishing for (s)";
    "live.health.reconnects" => "重连次数（本节点）", "Reconnects (this node)";
    "live.health.remote" => "信号来源", "Signal from";
    "live.ingest" => "推流设置", "Ingest";
    "live.ingest_intro" => "在编码器（OBS、vMix、硬件编码器、手机或 ffmpeg）里填入 RTMP 推流地址和推流密钥，或 SRT 地址和含推流密钥的 streamid。同一时间只接受一路推流：先连上的保留频道。", "Give the encoder (OBS, vMix, a hardware encoder, a phone or ffmpeg) the RTMP address and the stream key, or the SRT address and a streamid with the stream key. One publisher at a time: the first keeps the channel.";
    "live.rtmp_url" => "RTMP 服务器", "RTMP server";
    "live.rtmp_off" => "本节点未开启推流接入", "The ingest is off on this node";
    "live.key" => "推流密钥", "Stream key";
    "live.key_rotated" => "生成于", "made";
    "live.key_placeholder" => "推流密钥", "STREAM_KEY";
    "live.ffmpeg_example" => "用 ffmpeg 推流的示例", "Publishing with ffmpeg";
    "live.rotate" => "更换推流密钥", "Rotate the stream key";
    "live.rotate.confirm" => "更换后旧密钥立即失效：正在进行的推流会在几秒内被断开，编码器需要填入新密钥才能再次推流。确定更换？", "The old key stops working at once: a broadcast going on now is cut off within seconds, and the encoder needs the new key to publish again. Rotate it?";
    "live.delete" => "删除频道", "Delete the channel";
    "live.delete.confirm" => "删除后频道、回看内容和推流密钥都无法恢复，正在进行的推流会被断开。确定删除？", "The channel, its time-shift window and its key cannot be restored, and a publisher is cut off. Delete it?";
    "live.clip" => "剪辑成素材", "Clip into an item";
    "live.clip.hint" => "播放到入点时点“设为入点”，到出点时点“设为出点”，再点“剪辑”。剪辑不重新编码，从入点前最近的关键帧开始，几秒后成为交换库里的一条素材。", "Play to the in point and press “Mark in”, to the out point and press “Mark out”, then “Clip”. Clips are not re-encoded: they start on the keyframe at or before the in point, and become an item of the exchange seconds later.";
    "live.clip.mark_in" => "设为入点", "Mark in";
    "live.clip.mark_out" => "设为出点", "Mark out";
    "live.clip.last30" => "播放点前 30 秒", "30 s before the playhead";
    "live.clip.play_first" => "请先播放，入点和出点取自播放位置。", "Play first: the in and out points are taken from where the player is.";
    "live.clip.title_hint" => "默认：频道名称和入点时间", "Default: the channel's name and the in point";
    "live.clip.make" => "剪辑", "Clip";
    "done.clip_made" => "剪辑已提交，几秒后即可使用。", "The clip is being made; it will be ready in seconds.";
    "done.channel_created" => "频道已创建。", "Channel created.";
    "done.channel_updated" => "频道设置已保存。", "Channel settings saved.";
    "done.channel_key_rotated" => "已更换推流密钥。", "Stream key rotated.";
    "done.channel_passphrase_set" => "已设置 SRT 加密口令：SRT 推流端须使用该口令。", "SRT passphrase set: SRT publishers must use it.";
    "done.channel_passphrase_removed" => "已取消 SRT 加密口令。", "SRT passphrase removed.";
    "live.passphrase" => "SRT 加密口令", "SRT passphrase";
    "live.refusal.unknown_key" => "推流密钥无效", "Unknown or rotated key";
    "live.refusal.rate_limited" => "错误密钥过多，暂时拒绝", "Too many wrong keys: refused for a while";
    "live.refusal.busy" => "频道已有推流端", "Another publisher holds the channel";
    "live.refusal.over_limits" => "超出频道码率或分辨率限制", "Over the channel's bit rate or height";
    "live.refusal.address_not_allowed" => "推流地址不在允许列表中", "Address not on the channel's allow-list";
    "live.refusal.passphrase" => "SRT 加密口令不符", "SRT passphrase missing or wrong";
    "live.passphrase.none" => "（未设置：SRT 推流不加密）", "(none: SRT publishers send in the clear)";
    "live.passphrase.set" => "（已设置）", "(set)";
    "live.passphrase.hint" => "10–79 个英文字母、数字或符号。设置后，SRT 推流端须在编码器中填写同一口令（ffmpeg：passphrase=…），未加密或口令不符的连接会被拒绝。口令加密保存，不再显示。", "10 to 79 ASCII letters, digits or symbols. Once set, SRT publishers must enter the same passphrase in their encoder (ffmpeg: passphrase=…); connections without it or with another are refused. It is stored encrypted and not shown again.";
    "live.passphrase.save" => "保存口令", "Save passphrase";
    "live.passphrase.remove" => "取消口令", "Remove passphrase";
    "live.passphrase.remove_confirm" => "取消后 SRT 推流不再加密，确定吗？", "SRT publishers will send in the clear. Remove the passphrase?";
    "live.field.publish_cidrs" => "允许的推流地址", "Publishers allowed from";
    "live.field.publish_cidrs_hint" => "每行一个 IP 地址或网段（如 203.0.113.0/24），最多 50 个；只有来自这些地址的编码器可以推流。留空则任何持有密钥的编码器都可以推流。", "One IP address or network per line (such as 203.0.113.0/24), at most 50; only encoders from these addresses may publish. Empty: any encoder with the key.";
    "done.channel_deleted" => "频道已删除。", "Channel deleted.";
    "done.target_added" => "已添加转推目标；频道直播时会自动推送。", "Restream target added; it is pushed to whenever the channel is live.";
    "done.target_updated" => "已保存转推目标。", "Restream target saved.";
    "done.target_deleted" => "已删除转推目标。", "Restream target removed.";
    "live.targets" => "转推", "Restream";
    "live.srt_url" => "SRT 地址", "SRT address";
    "live.srt_streamid" => "streamid（流 ID）填写：", "Set the streamid to:";
    "live.field.pull_url" => "拉流地址（可选）", "Pull address (optional)";
    "live.field.record_windows" => "定时录像（北京时间）", "Scheduled recording (Beijing time)";
    "live.field.record_windows_hint" => "每天在这些时段内录制直播，每个时段结束后成为一条素材，例如 12:00-12:30, 19:00-19:45；可跨零点；直播中修改的，十秒内生效。勾选上面的“每场直播自动收录为素材”则全程录制。", "Broadcasts are recorded within these daily windows, each window becoming an item when it ends, e.g. 12:00-12:30, 19:00-19:45; a window may pass midnight; changed while on air, they apply within ten seconds. Recording every broadcast (above) records everything.";
    "live.field.renditions" => "多码率（供观众按网速切换）", "Lower renditions (players switch by bandwidth)";
    "live.field.renditions_hint" => "勾选后，除原画外再转码出这些清晰度（最多 3 档，不高于信号本身的档位自动跳过）；每档约占一个处理器核心。直播中修改的，从下次开播起生效。", "Besides the input's copy, these are encoded (at most 3; those not below the input's height are left out); each takes about a processor core. Changed while on air, they apply from the next broadcast.";
    "live.field.pull_url_hint" => "填写后，没有编码器推流时频道从这里拉取信号（也可作为备用信号：编码器一推流即切换到推流，推流中断后自动切回拉流）：rtmp(s)://主机/应用/流名、rtsp://主机[:端口]/路径（摄像机等 RTSP 服务器）、srt://主机:端口（可带 ?streamid=…&passphrase=…）、HLS 地址（http(s)://…/index.m3u8），或 channel:频道编号（共享给本台的频道）。留空则由编码器推流。", "When set, the channel pulls its signal from here whenever no encoder publishes (a backup input: an encoder publishing with the key takes over at once, and the pull comes back when it stops): rtmp(s)://host/app/stream, rtsp://host[:port]/path (a camera or other RTSP server), srt://host:port (with ?streamid=…&passphrase=… if needed), an HLS address (http(s)://…/index.m3u8) or channel:<id> (a channel shared with your station). Empty: an encoder publishes to it.";
    "field.pull_url" => "拉流地址", "Pull address";
    "field.publish_cidrs" => "允许的推流地址", "Publishers allowed from";
    "field.passphrase" => "SRT 加密口令", "SRT passphrase";
    "field.record_windows" => "定时录像", "Scheduled recording";
    "field.renditions" => "多码率", "Lower renditions";
    "live.health.error" => "输入故障", "Input failure";
    "live.take" => "拉到本台", "Take into my station";
    "live.take.hint" => "在本台新建一个拉取此频道信号的频道（仅本台可见），可录制、剪辑、转推。", "Makes a channel of your station that pulls this channel's signal (visible to your station only), to record, clip and restream.";
    "done.channel_taken" => "已新建拉流频道；源频道开播时自动拉取。", "A pulling channel was made; it takes the signal whenever the source is on air.";
    "live.targets.intro" => "频道直播时同时推送到下列合作平台（RTMP、RTMPS 或 SRT），每个目标各自连接、断开后自动重试。推流密钥加密保存，保存后只显示末四位。", "While the channel is live it is pushed to these partner platforms (RTMP, RTMPS or SRT), each connected on its own and retried when it drops. Stream keys are stored encrypted; after saving only their last four characters are shown.";
    "live.targets.none" => "还没有转推目标。", "No restream targets yet.";
    "live.target.url" => "服务器地址", "Server address";
    "live.target.last_error" => "上次失败：", "Last failure: ";
    "live.target.url_hint" => "rtmp(s)://主机[:端口]/应用，或 SRT 的 srt://主机:端口；不含推流密钥", "rtmp(s)://host[:port]/app, or srt://host:port for SRT; without the stream key";
    "live.target.key_hint" => "合作平台提供的推流密钥（SRT 填 streamid，如 #!::r=live/abc,m=publish）。加密保存，不再显示；表单出错时需重新输入。", "The stream key the partner issued (for SRT, the streamid, e.g. #!::r=live/abc,m=publish). Stored encrypted and never shown again; re-enter it if the form comes back with a mistake.";
    "live.target.passphrase" => "SRT 加密口令（可选）", "SRT passphrase (optional)";
    "live.target.passphrase_hint" => "仅 SRT 目标：合作平台要求加密时填写（10 至 79 个字符）。加密保存，不再显示。", "SRT targets only: when the partner requires encryption (10 to 79 characters). Stored encrypted and never shown again.";
    "live.target.passphrase_keep" => "留空则保持原口令", "Leave empty to keep the current passphrase";
    "live.target.passphrase_clear" => "去掉加密口令", "Remove the passphrase";
    "live.target.has_passphrase" => "已设加密口令", "passphrase set";
    "live.target.key_keep" => "留空则保持原密钥", "Leave empty to keep the current key";
    "live.target.name_hint" => "例如：央视频、本台客户端", "e.g. the agency's live cloud, our app";
    "live.target.enabled" => "频道直播时推送", "Push whenever the channel is live";
    "live.target.add" => "添加转推目标", "Add a restream target";
    "live.target.edit" => "修改", "Edit";
    "live.target.state" => "状态", "State";
    "live.target.state.idle" => "未推流", "Idle";
    "live.target.state.connecting" => "连接中", "Connecting";
    "live.target.state.live" => "推流中", "Pushing";
    "live.target.state.retrying" => "重试中", "Retrying";
    "live.target.sent" => "已发送", "Sent";
    "live.target.rate" => "码率", "Rate";
    "live.target.attempts" => "连接次数", "Connections";
    "live.target.off" => "已停用", "switched off";
    "live.target.disable" => "停用", "Switch off";
    "live.target.enable" => "启用", "Switch on";
    "live.target.delete" => "删除", "Remove";
    "live.target.delete.confirm" => "删除这个转推目标？正在进行的推送会停止，密钥不可恢复。", "Remove this restream target? A push in progress stops, and its key cannot be recovered.";
    "field.key" => "推流密钥", "Stream key";
    "fe.unsupported_scheme" => "不支持该协议，请按下方说明填写", "this protocol is not supported: see the hint below";
    "nav.analytics" => "统计", "Analytics";
    "nav.notices" => "通知", "Notices";

    "zones.title" => "专区", "Topic zones";
    "zones.intro" => "总台围绕专题发起征集，各台在时间窗口内把自己的素材投入专区。", "The hub runs campaigns on a topic; stations contribute their items while a zone is open.";
    "zones.state.open" => "征集中", "Open";
    "zones.state.upcoming" => "未开始", "Upcoming";
    "zones.state.over" => "已结束", "Over";
    "zones.items" => "素材", "Items";
    "zones.reached" => "完成目标", "Targets met";
    "zones.none" => "还没有专区。", "No zones yet.";
    "zones.new" => "新建专区", "New zone";
    "zones.invite" => "邀请电视台并设定供稿目标", "Invite stations and set their targets";
    "zones.invited" => "受邀电视台", "Invited station";
    "zones.target" => "目标（条）", "Target (items)";
    "zones.create" => "创建专区", "Create the zone";
    "zones.edit" => "编辑专区", "Edit the zone";
    "zones.save" => "保存修改", "Save the changes";
    "zones.contribute" => "向专区供稿", "Contribute to this zone";
    "zones.pick" => "本台素材", "Our item";
    "zones.contribute_button" => "投入专区", "Contribute";
    "zones.nothing_to_contribute" => "本台暂无可投入的素材（需已上传且未撤回）。", "Your station has no item to contribute (uploaded and not withdrawn).";
    "zones.progress" => "各台供稿进度", "Stations' progress";
    "zones.contributed" => "已供稿", "Contributed";
    "zones.status" => "状态", "Status";
    "zones.done" => "已完成", "Target met";
    "zones.not_yet" => "未供稿", "Nothing yet";
    "zones.partly" => "进行中", "Under way";
    "zones.contributions" => "专区素材", "Contributions";
    "zones.no_items" => "专区里还没有素材。", "No items in this zone yet.";
    "zones.remove" => "移出专区", "Take out";
    "done.zone_created" => "专区已创建。", "Zone created.";
    "done.zone_updated" => "专区已更新。", "Zone updated.";
    "done.contributed" => "已投入专区。", "Contributed to the zone.";
    "done.zone_item_removed" => "已移出专区。", "Taken out of the zone.";
    "field.brief" => "简介", "Brief";
    "field.starts_on" => "开始日期", "First day";
    "field.ends_on" => "结束日期", "Last day";
    "field.invited" => "受邀电视台", "Invited stations";
    "field.cover_asset_id" => "封面素材", "Cover item";
    "fe.before_start" => "早于开始日期", "is before the first day";
    "err.zone_not_found" => "找不到这个专区。", "No such topic zone.";
    "err.zone_closed" => "专区不在征集时间内，不能投入素材。", "The zone takes contributions only during its window.";
    "action.zone_created" => "新建专区", "Zone created";
    "action.zone_updated" => "修改专区", "Zone updated";
    "action.zone_contributed" => "向专区供稿", "Contributed to a zone";
    "action.zone_item_removed" => "移出专区", "Taken out of a zone";
    "home.notices.desc" => "素材更正与撤回通知，需确认收到。", "Correction and withdrawal notices to acknowledge.";

    "manage.title" => "更正与撤回", "Correct or withdraw";
    "manage.correct" => "更正素材信息", "Correct the item's details";
    "manage.note_hint" => "例如：标题中的台风名称有误", "e.g. the typhoon's name in the title was wrong";
    "manage.send_correction" => "保存更正并通知采用台", "Save and tell the adopting stations";
    "manage.withdraw" => "撤回素材", "Withdraw the item";
    "manage.withdraw_confirm" => "撤回后不能恢复。已有 {n} 家电视台采用了这条素材，它们都会收到撤回通知，须立即停播。确定撤回？", "A withdrawal cannot be undone. {n} stations adopted this item; each will be told to take it off air at once. Withdraw it?";
    "manage.withdraw_warning" => "撤回后素材将从交换库下架，下载链接立即失效，且不能恢复。所有采用过的电视台都会收到通知并需确认。", "A withdrawn item leaves the exchange, its download links stop working at once, and this cannot be undone. Every station that adopted it is told and must acknowledge.";
    "manage.send_withdrawal" => "撤回并通知采用台", "Withdraw and tell the adopting stations";
    "manage.notices" => "已发出的通知", "Notices sent";

    "notices.invitations" => "专区邀请：请为这些专区供稿", "Zones inviting your station to contribute";
    "notices.invitation_progress" => "已供稿 / 目标", "contributed / target";
    "notices.title" => "通知", "Notices";
    "notices.intro" => "供稿台更正或撤回了本台采用过的素材时，会在这里通知本台；请在处理后点“确认收到”。", "When a contributor corrects or withdraws an item your station adopted, you are told here; acknowledge once you have acted on it.";
    "notices.received" => "本台收到的", "To our station";
    "notices.issued" => "本台发出的", "About our items";
    "notices.sent" => "时间", "Sent";
    "notices.item" => "素材", "Item";
    "notices.kind" => "类型", "Kind";
    "notices.kind.correction" => "更正", "Correction";
    "notices.kind.withdrawal" => "撤回", "Withdrawal";
    "notices.message" => "说明", "Message";
    "notices.station" => "采用台", "Adopting station";
    "notices.contributor" => "供稿台", "Contributor";
    "notices.acknowledged" => "确认", "Acknowledged";
    "notices.ack" => "确认收到", "Acknowledge";
    "notices.done" => "已确认", "Acknowledged";
    "notices.pending" => "未确认", "Not yet";
    "notices.none" => "暂无通知。", "No notices.";
    "notices.open_count" => "待确认的通知", "Notices to acknowledge";

    "stats.title" => "统计报表", "Statistics";
    "stats.from" => "起始日期", "From";
    "stats.to" => "截止日期", "To";
    "stats.show" => "查看", "Show";
    "stats.contributions" => "供稿", "Contributions";
    "stats.adoptions" => "采用", "Adoptions";
    "stats.adoptions_received" => "被采用", "Adopted by others";
    "stats.adoptions_made" => "采用他台", "Adopted from others";
    "stats.active_stations" => "活跃电视台", "Active stations";
    "stats.daily" => "每日供稿与采用", "Daily contributions and adoptions";
    "stats.league" => "电视台排行", "League table";
    "stats.station" => "电视台", "Station";
    "stats.stations" => "台数", "Stations";
    "stats.top_items" => "采用最多的素材", "Most adopted items";
    "stats.map" => "各省分布", "By province";
    "stats.cities" => "各城市", "By city";
    "stats.zones" => "专区排行", "Zones";
    "stats.definitions" => "统计口径", "What is counted";
    "stats.def.contribution" => "供稿：一条素材在交换库中处理完成、可以采用，计入完成当天。处理失败、被拒绝、仍在处理的上传不计；与已有素材完全相同（SHA-256 相同）的重复上传不计。后来撤回的素材仍计入当天。", "A contribution is an item that became ready in the exchange, counted on that day. Failed, rejected and still-processing uploads do not count, nor does an upload identical to an earlier item (same SHA-256). An item withdrawn later still counts on its day.";
    "stats.def.adoption" => "采用：一个电视台采用另一台的一条素材，只计一次。同一台下载同一素材的多个文件（原片、浏览版）不重复计算，以第一次下载的日期计入。", "An adoption is a station taking another station's item, counted once: downloading several of its files (master, browse copy) counts once, on the day of the first.";
    "stats.def.top" => "采用最多的素材：按期间内采用它的电视台数排序，已撤回、已删除的素材不列入，标题为当前标题。", "Most adopted items are ranked by how many stations took them in the period; withdrawn and deleted items are left out, and titles are current.";
    "csv.code" => "代码", "Code";
    "csv.name" => "名称", "Name";
    "csv.city" => "城市", "City";
    "csv.province" => "省份", "Province";
    "csv.stations" => "台数", "Stations";
    "csv.contributions" => "供稿数", "Contributions";
    "csv.adoptions" => "采用数", "Adoptions";
    "csv.adoptions_made" => "采用他台数", "Adopted from others";
    "csv.adoptions_received" => "被采用数", "Adopted by others";
    "csv.date" => "日期", "Date";
    "csv.asset_id" => "素材编号", "Item id";
    "csv.title" => "标题", "Title";
    "csv.station" => "电视台", "Station";
    "csv.zone_id" => "专区编号", "Zone id";
    "csv.items" => "素材数", "Items";
    "nav.stations" => "电视台", "Stations";
    "nav.users" => "用户", "Users";
    "nav.tokens" => "API 令牌", "API tokens";
    "nav.audit" => "审计日志", "Audit log";
    "nav.account" => "我的账号", "My account";
    "nav.api_docs" => "API 文档", "API docs";
    "nav.logout" => "退出", "Sign out";
    "nav.admin" => "管理", "Administration";

    "login.title" => "登录", "Sign in";
    "login.email" => "邮箱", "Email";
    "login.password" => "密码", "Password";
    "login.submit" => "登录", "Sign in";
    "login.hint" => "首次启动时的管理员账号见服务器启动输出。", "The first admin account is printed when the server first starts.";

    "home.welcome" => "欢迎", "Welcome";
    "home.intro" => "各成员台在这里交换新闻素材：上传、检索、预览、采用，并查看谁采用了你的作品。", "Member stations exchange news footage here: upload, search, preview, adopt, and see who adopted your work.";
    "home.areas" => "业务区", "Areas";
    "home.manage" => "管理", "Administration";
    "home.exchange.desc" => "上传、检索、预览和采用各台新闻素材。", "Upload, search, preview and adopt news from every station.";
    "home.zones.desc" => "围绕专题组织各台供稿。", "Run topic campaigns that stations contribute to.";
    "home.live.desc" => "各台的直播频道：推流、观看、回看，剪辑成素材。", "The stations' live channels: publish, watch, scroll back, clip into items.";
    "home.analytics.desc" => "供稿、采用与热度统计。", "Contributions, adoptions and trends.";
    "home.stations.desc" => "成员台资料与联系人。", "Member stations and their contacts.";
    "home.users.desc" => "账号与角色。", "Accounts and roles.";
    "home.tokens.desc" => "供脚本和系统对接使用的令牌。", "Tokens for scripts and integrations.";
    "home.audit.desc" => "登录、授权和变更记录。", "Sign-ins, grants and changes.";

    "station.title" => "电视台", "Stations";
    "station.new" => "新建电视台", "New station";
    "station.edit" => "编辑电视台", "Edit station";
    "station.name" => "台名", "Name";
    "station.code" => "代码", "Code";
    "station.code.hint" => "2–32 位小写字母、数字或连字符，如 hztv", "2–32 lowercase letters, digits or hyphens, e.g. hztv";
    "station.city" => "城市", "City";
    "station.province" => "省份", "Province";
    "station.region" => "大区", "Region";
    "station.contact_name" => "联系人", "Contact";
    "station.contact_phone" => "联系电话", "Phone";
    "station.contact_email" => "联系邮箱", "Contact email";
    "station.users" => "用户", "Users";
    "station.none" => "还没有电视台。", "No stations yet.";
    "station.create" => "创建", "Create";
    "station.default_visibility" => "上传素材默认可见范围", "Who sees new uploads by default";
    "station.default_visibility.hint" => "编辑上传时可以逐条另选。", "Editors may choose otherwise for each upload.";
    "station.save" => "保存", "Save";
    "station.quota" => "存储配额", "Storage quota";
    "station.quota.default" => "默认配额", "the default";
    "station.quota.unlimited" => "不限", "no limit";
    "station.quota.used" => "已用", "Used";
    "station.quota.unfinished" => "未完成的上传", "Unfinished uploads";
    "station.quota.gb" => "本台配额（GB，整数；留空则用默认配额）", "This station's quota (whole GB; empty for the default)";
    "fe.whole_gb" => "请填写整数 GB，例如 500", "must be a whole number of GB, e.g. 500";
    "station.quota.save" => "保存配额", "Save quota";
    "field.quota_gb" => "配额", "Quota";
    "done.quota_saved" => "配额已保存。", "Quota saved.";

    "region.north" => "华北", "North";
    "region.northeast" => "东北", "Northeast";
    "region.east" => "华东", "East";
    "region.central" => "华中", "Central";
    "region.south" => "华南", "South";
    "region.southwest" => "西南", "Southwest";
    "region.northwest" => "西北", "Northwest";

    "user.title" => "用户", "Users";
    "user.new" => "新建用户", "New user";
    "user.edit" => "编辑用户", "Edit user";
    "user.email" => "邮箱", "Email";
    "user.display_name" => "姓名", "Name";
    "user.role" => "角色", "Role";
    "user.station" => "所属电视台", "Station";
    "user.station.hub" => "（平台）", "(hub)";
    "user.station.pick" => "请选择", "Choose";
    "user.password" => "初始密码", "Initial password";
    "user.password.hint" => "留空则自动生成，仅显示一次。", "Leave empty to generate one, shown once.";
    "user.status" => "状态", "Status";
    "user.active" => "正常", "Active";
    "user.disabled" => "已停用", "Disabled";
    "user.disable" => "停用账号", "Disable account";
    "user.enable" => "启用账号", "Enable account";
    "user.last_login" => "最近登录", "Last sign-in";
    "user.never" => "从未", "Never";
    "user.none" => "没有用户。", "No users.";
    "user.create" => "创建", "Create";
    "user.save" => "保存", "Save";
    "user.filter" => "筛选", "Filter";
    "user.all_stations" => "全部电视台", "All stations";
    "user.reset" => "重置密码", "Reset password";
    "user.reset.confirm" => "确定重置此用户的密码？其所有登录会话将结束。", "Reset this user's password? All their sessions will end.";
    "user.disable.confirm" => "确定停用此账号？", "Disable this account?";
    "user.generated" => "已生成密码（仅显示这一次，请安全地转交本人）：", "Generated password (shown only this once; hand it over safely):";

    "role.hub_admin" => "平台管理员", "Hub admin";
    "role.hub_editor" => "平台编辑", "Hub editor";
    "role.station_admin" => "台管理员", "Station admin";
    "role.editor" => "编辑", "Editor";
    "role.viewer" => "只读用户", "Viewer";

    "token.title" => "API 令牌", "API tokens";
    "token.intro" => "令牌供脚本和外部系统调用 API：在请求头中发送 Authorization: Bearer <令牌>。", "Tokens let scripts and other systems call the API: send Authorization: Bearer <token>.";
    "token.new" => "新建令牌", "New token";
    "token.name" => "名称", "Name";
    "token.owner" => "所有者", "Owner";
    "token.owner.me" => "我自己", "Myself";
    "token.scopes" => "权限范围", "Scopes";
    "token.days" => "有效天数", "Valid for (days)";
    "token.prefix" => "前缀", "Prefix";
    "token.expires" => "到期", "Expires";
    "token.last_used" => "最近使用", "Last used";
    "token.state" => "状态", "State";
    "token.kind.api" => "API", "API";
    "token.kind.login" => "登录", "Sign-in";
    "token.active" => "有效", "Active";
    "token.revoked" => "已吊销", "Revoked";
    "token.expired" => "已过期", "Expired";
    "token.revoke" => "吊销", "Revoke";
    "token.revoke.confirm" => "确定吊销此令牌？使用它的系统将立即无法访问。", "Revoke this token? Systems using it lose access at once.";
    "token.none" => "没有有效的令牌。", "No active tokens.";
    "token.create" => "创建令牌", "Create token";
    "token.created" => "令牌已创建。请立即复制保存，它只显示这一次：", "Token created. Copy it now; it is shown only this once:";
    "token.copy" => "复制", "Copy";
    "token.copied" => "已复制", "Copied";
    "token.show_inactive" => "显示已吊销和已过期的令牌", "Show revoked and expired tokens";
    "scope.read" => "读取", "Read";
    "scope.write" => "写入", "Write";
    "scope.admin" => "管理", "Admin";

    "audit.title" => "审计日志", "Audit log";
    "audit.at" => "时间", "Time";
    "audit.actor" => "操作者", "Actor";
    "audit.action" => "动作", "Action";
    "audit.target" => "对象", "Target";
    "audit.ip" => "IP", "IP";
    "audit.result" => "结果", "Result";
    "audit.ok" => "成功", "OK";
    "audit.failed" => "失败", "Failed";
    "audit.none" => "没有记录。", "No entries.";
    "action.login_ok" => "登录成功", "Signed in";
    "action.login_failed" => "登录失败", "Sign-in failed";
    "action.login_limited" => "登录尝试过多，已拒绝", "Sign-in refused: too many failures";
    "action.logout" => "退出登录", "Signed out";
    "action.station_created" => "新建电视台", "Station created";
    "action.station_updated" => "修改电视台", "Station updated";
    "action.user_created" => "新建用户", "User created";
    "action.user_updated" => "修改用户", "User updated";
    "action.role_changed" => "变更角色", "Role changed";
    "action.user_disabled" => "停用用户", "User disabled";
    "action.user_enabled" => "启用用户", "User enabled";
    "action.password_changed" => "修改密码", "Password changed";
    "action.password_reset" => "重置密码", "Password reset";
    "action.token_created" => "创建令牌", "Token created";
    "action.token_revoked" => "吊销令牌", "Token revoked";
    "action.upload_created" => "开始上传", "Upload started";
    "action.upload_completed" => "上传完成", "Upload completed";
    "action.upload_terminated" => "取消上传", "Upload cancelled";
    "action.import_created" => "从链接导入", "Import by URL";
    "action.asset_deleted" => "删除素材", "Item deleted";
    "action.rights_changed" => "修改权限", "Rights changed";
    "action.asset_adopted" => "采用素材", "Item adopted";
    "action.asset_corrected" => "更正素材", "Item corrected";
    "action.asset_withdrawn" => "撤回素材", "Item withdrawn";
    "action.notice_acknowledged" => "确认通知", "Notice acknowledged";
    "action.asset_restored" => "恢复素材", "Item restored";
    "action.asset_purged" => "永久清除素材", "Item purged";

    "account.title" => "我的账号", "My account";
    "account.change_password" => "修改密码", "Change password";
    "account.current" => "当前密码", "Current password";
    "account.new" => "新密码", "New password";
    "account.new.hint" => "至少 10 个字符。修改后需要重新登录。", "At least 10 characters. You will sign in again afterwards.";
    "account.submit" => "修改密码", "Change password";

    "list.next" => "下一页", "Next page";
    "list.prev" => "上一页", "Previous page";
    "search.title" => "交换库", "Exchange";
    "search.page" => "页码", "Page";
    "search.res.sd" => "标清", "SD";
    "search.res.unknown" => "未知", "Unknown";
    "search.q" => "搜索", "Search";
    "search.placeholder" => "输入关键词，如：台风 登陆（简繁体均可）", "Words to find, e.g. 台风 登陆 (simplified or traditional)";
    "search.go" => "搜索", "Search";
    "search.sort" => "排序", "Sort";
    "search.sort.relevance" => "按相关度", "Best match";
    "search.sort.newest" => "最新", "Newest";
    "search.sort.adoptions" => "采用最多", "Most adopted";
    "search.from" => "起始日期", "From";
    "search.to" => "截止日期", "To";
    "search.narrow" => "筛选", "Narrow down";
    "search.province" => "省份", "Province";
    "search.city" => "城市", "City";
    "search.station" => "供稿台", "Station";
    "search.category" => "分类", "Category";
    "search.resolution" => "清晰度", "Resolution";
    "search.qc" => "技审", "Technical check";
    "search.found" => "共找到", "Found";
    "search.found_unit" => "条", "items";
    "search.none" => "没有找到符合条件的素材。试试更少的关键词或去掉筛选条件。", "Nothing matches. Try fewer words or remove a filter.";
    "search.adoptions" => "采用", "Adopted";
    "search.embargoed" => "禁发中", "Embargoed";
    "asset.contributor" => "供稿台", "Contributed by";
    "adopt.done_note" => "本台已采用这条素材（已记入采用记录），可在下方下载。同一文件不会重复记录。", "Your station has adopted this item (it is in the ledger); download it below. Taking the same file again records nothing new.";
    "adopt.another" => "采用其他版本", "Take another version";
    "adopt.title" => "采用这条素材", "Adopt this item";
    "adopt.take" => "采用方式", "What to take";
    "adopt.take.master" => "原始文件", "Master";
    "adopt.take.proxy" => "浏览版 MP4", "Browse MP4";
    "adopt.take.library" => "仅加入本台素材库", "Add to library only";
    "adopt.purpose" => "用途", "Purpose";
    "adopt.purpose_hint" => "如：晚间新闻", "e.g. evening news";
    "adopt.go" => "采用", "Adopt";
    "adopt.embargoed" => "这条素材尚在禁发期内，可预览但暂不能采用。禁发至：", "This item is under embargo: you can preview it but not adopt it until ";
    "adopt.already" => "本台已采用这条素材，可随时下载：", "Your station has adopted this item. Download it any time:";
    "adopt.download" => "下载", "Download";
    "adopt.resume_hint" => "下载中断时再次点击即可从断点继续（支持断点续传的下载工具）。", "If a download stops, click again to resume (with a download tool that resumes).";
    "rights.title" => "权限与禁发", "Rights and embargo";
    "rights.visibility" => "谁能看到", "Who can see it";
    "rights.vis.private" => "仅本台", "Only our station";
    "rights.vis.exchange" => "全部成员台", "Every member station";
    "rights.vis.stations" => "指定电视台", "Selected stations";
    "rights.vis.public" => "公开（含合作伙伴与公众）", "Public (partners and the public too)";
    "rights.shared_with" => "指定电视台代码", "Station codes";
    "rights.stations_hint" => "可填写的电视台：", "Stations you can name: ";
    "rights.embargo_until" => "禁发至（北京时间）", "Embargo until (Beijing time)";
    "rights.embargo_hides" => "禁发期内对其他台完全隐藏", "Hide from other stations during the embargo";
    "rights.save" => "保存权限", "Save rights";
    "rights.credits" => "采用记录", "Adoptions";
    "adoptions.mark.withdrawn" => "已撤回，请立即停播、删除", "Withdrawn: take it off air and delete it";
    "adoptions.mark.deleted" => "已被供稿台删除", "Deleted by its contributor";
    "adoptions.mark.corrected" => "已更正", "Corrected";
    "adoptions.title_now" => "现标题：", "Title now: ";
    "adoptions.title" => "采用记录", "Adoptions";
    "adoptions.credited" => "本台素材被采用", "Our items adopted";
    "adoptions.made" => "本台采用的素材", "Items we adopted";
    "adoptions.at" => "时间", "When";
    "adoptions.item" => "素材", "Item";
    "adoptions.contributor" => "供稿台", "Contributor";
    "adoptions.adopter" => "采用台", "Adopted by";
    "adoptions.take" => "方式", "Form";
    "adoptions.purpose" => "用途", "Purpose";
    "adoptions.none" => "暂无采用记录。", "No adoptions yet.";
    "nav.adoptions" => "采用记录", "Adoptions";
    "done.adopted" => "已采用，并已记入采用记录。可在下方下载。", "Adopted and recorded. Download it below.";
    "done.rights_saved" => "权限已保存。", "Rights saved.";
    "done.corrected" => "更正已保存，已通知所有采用台。", "Correction saved; every station that adopted the item has been told.";
    "done.withdrawn" => "素材已撤回，已通知所有采用台。", "Item withdrawn; every station that adopted it has been told.";
    "done.acknowledged" => "已确认收到通知。", "Notice acknowledged.";
    "list.first" => "第一页", "First page";
    "common.stop" => "。", ".";
    "rights.shared_with.hint" => "电视台代码，用逗号分开", "station codes, separated by commas";
    "common.colon" => "：", ": ";
    "common.actions" => "操作", "Actions";
    "nav.follows" => "关注", "Following";
    "follow.title" => "我的关注", "Following";
    "follow.intro" => "关注关键词、电视台或专区，这里会显示自上次查看以来的新素材。", "Follow keywords, stations or zones; new items since your last look show here.";
    "follow.keyword" => "关键词", "Keyword";
    "follow.keyword.placeholder" => "如：台风、两会", "e.g. typhoon";
    "follow.station" => "电视台", "Station";
    "follow.button" => "关注", "Follow";
    "follow.zone" => "关注此专区", "Follow this zone";
    "follow.this_search" => "关注关键词", "Follow the keyword";
    "follow.zones_hint" => "要关注专区，请在专区页面点击“关注此专区”。", "To follow a zone, use \"Follow this zone\" on its page.";
    "follow.kind.zone" => "专区", "Zone";
    "follow.kind.keyword" => "关键词", "Keyword";
    "follow.kind.station" => "电视台", "Station";
    "follow.new" => "条新素材", "new items";
    "follow.seen" => "上次查看：", "Last look:";
    "follow.nothing_new" => "暂无新素材。", "Nothing new.";
    "follow.open" => "查看并标为已读", "Open and mark as seen";
    "follow.unfollow" => "取消关注", "Unfollow";
    "follow.none" => "还没有关注任何内容。", "You follow nothing yet.";
    "done.followed" => "已关注。", "Followed.";
    "done.unfollowed" => "已取消关注。", "Unfollowed.";
    "fe.already_followed" => "已经关注过了", "is followed already";
    "field.target" => "关注对象", "What to follow";
    "field.kind" => "类型", "Kind";
    "err.follow_not_found" => "找不到这项关注。", "No such follow.";
    "nav.webhooks" => "推送接口", "Webhooks";
    "webhook.title" => "推送接口（Webhook）", "Webhooks";
    "webhook.intro" => "本台系统可以登记一个地址：交换平台的事件（新素材发布、更正、撤回、采用、通知）会以签名的 HTTP POST 推送过去，失败自动重试。签名方法见 API 文档。", "Your station's systems can register an address: the exchange's events (items published, corrected, withdrawn, adopted, notices) are POSTed to it, signed, and retried when they fail. The API guide explains the signature.";
    "webhook.new" => "登记推送地址", "Add a webhook";
    "webhook.create" => "登记", "Add";
    "webhook.kinds" => "推送的事件", "Events sent";
    "webhook.kinds.hint" => "（不选即全部）", "(none ticked: all)";
    "webhook.kinds.all" => "全部事件", "All events";
    "webhook.secret_once" => "推送地址已登记。签名密钥只显示这一次，请立即复制，交给接收系统校验 X-Cityx-Signature：", "Webhook added. Its signing secret is shown only this once; copy it now for the receiving system to check X-Cityx-Signature:";
    "webhook.station" => "电视台", "Station";
    "webhook.delivered" => "已送达", "Delivered";
    "webhook.pending" => "待发送", "Waiting";
    "webhook.failed" => "失败", "Failed";
    "webhook.delete" => "删除", "Delete";
    "webhook.delete.confirm" => "删除后不再向这个地址推送，尚未发送的推送将被跳过。确定删除？", "Nothing more will be sent to this address, and waiting deliveries are skipped. Delete it?";
    "webhook.none" => "还没有登记推送地址。", "No webhooks yet.";
    "webhook.deliveries" => "推送记录", "Deliveries";
    "webhook.retry_rule" => "接收方须在 10 秒内返回 2xx；否则按 5 秒起、逐次加倍（最长间隔 10 分钟）重试，共 10 次。", "The receiver must answer 2xx within 10 s; otherwise it is retried from 5 s, doubling (at most 10 minutes apart), 10 attempts in all.";
    "webhook.seq" => "事件序号", "Event no.";
    "webhook.event" => "事件", "Event";
    "webhook.state" => "状态", "State";
    "webhook.attempts" => "尝试次数", "Attempts";
    "webhook.status" => "响应码", "HTTP status";
    "webhook.error" => "最近错误", "Last error";
    "webhook.updated" => "更新时间", "Updated";
    "webhook.retry" => "重新推送", "Send again";
    "webhook.no_deliveries" => "还没有推送。", "Nothing sent yet.";
    "delivery.pending" => "待发送", "Waiting";
    "delivery.delivered" => "已送达", "Delivered";
    "delivery.failed" => "失败", "Failed";
    "delivery.skipped" => "已跳过", "Skipped";
    "event.item.published" => "新素材发布", "Item published";
    "event.item.corrected" => "素材更正", "Item corrected";
    "event.item.withdrawn" => "素材撤回", "Item withdrawn";
    "event.adoption.created" => "素材被采用", "Item adopted";
    "event.notice.created" => "更正/撤回通知", "Correction or withdrawal notice";
    "event.zone.invited" => "专区邀请", "Zone invitation";
    "event.channel.alarm" => "直播告警（无信号、静音、黑场）", "Live alarm (no signal, silence, black)";
    "live.health.level" => "音量（dBFS）", "Audio level (dBFS)";
    "live.health.alarms" => "告警", "Alarms";
    "live.alarm.no_signal" => "无信号", "No signal";
    "live.alarm.silence" => "静音", "Silence";
    "live.alarm.black" => "黑场", "Black";
    "live.trouble.bad_address" => "地址不可用", "Address not usable";
    "live.trouble.forbidden_address" => "地址不允许访问（本机和内网地址须由运维在 fetch.allow_cidrs 中放行）", "Address not allowed (loopback and private addresses must be allowed by the operator in fetch.allow_cidrs)";
    "live.trouble.unreachable" => "无法连接", "Cannot connect";
    "live.trouble.refused" => "对方拒绝（请检查地址和推流密钥）", "Refused by the server (check the address and the key)";
    "live.trouble.broken" => "连接中断", "Connection broke";
    "live.trouble.silent" => "信号源没有数据", "The source sends nothing";
    "live.trouble.too_slow" => "处理跟不上（码率过高或对方接收太慢）", "Cannot keep up (bit rate too high, or the partner too slow)";
    "live.trouble.unsupported" => "流的格式不支持或超出频道限制", "Stream form not supported, or over the channel's limits";
    "live.trouble.off_air" => "源频道未开播", "The source channel is off air";
    "live.trouble.source_gone" => "源频道已删除或不再共享", "The source channel is gone or no longer shared";
    "live.trouble.dropped" => "推流端异常断开", "The publisher dropped without ending";
    "live.trouble.key_unreadable" => "本节点无法解密推流密钥（各节点须使用相同的 data.secret_key_file），请重新输入密钥", "The key cannot be decrypted on this node (every node needs the same data.secret_key_file); enter the key again";
    "done.webhook_created" => "推送地址已登记。", "Webhook added.";
    "done.webhook_deleted" => "推送地址已删除。", "Webhook deleted.";
    "done.delivery_retried" => "已重新排队推送。", "Queued to be sent again.";
    "action.webhook_created" => "登记推送地址", "Webhook added";
    "action.webhook_deleted" => "删除推送地址", "Webhook deleted";
    "action.delivery_retried" => "重新推送", "Delivery retried";
    "action.process_stopped" => "停止后台进程", "Process stopped";
    "action.process_started" => "启动后台进程", "Process started";
    "action.channel_created" => "创建直播频道", "Live channel created";
    "action.channel_updated" => "修改直播频道", "Live channel changed";
    "action.channel_key_rotated" => "更换推流密钥", "Stream key rotated";
    "action.channel_deleted" => "删除直播频道", "Live channel deleted";
    "action.publish_refused" => "拒绝推流", "Publish refused";
    "action.item_made" => "生成素材（直播剪辑、收录）", "Item made (live clip, recording)";
    "action.target_created" => "添加转推目标", "Restream target added";
    "action.target_updated" => "修改转推目标", "Restream target changed";
    "action.target_deleted" => "删除转推目标", "Restream target removed";
    "fe.too_many" => "数量已达上限", "has reached its limit";
    "fe.not_shared" => "封面须是已就绪、向全部成员台开放且不在禁发期内的素材", "must be a ready item shared with every station and not under embargo";
    "fe.outlives_token" => "不能晚于创建它的令牌过期", "may not outlive the token that makes it";
    "fe.unknown_kind" => "包含未知的事件类型", "names an unknown event kind";
    "err.webhook_not_found" => "找不到这个推送地址。", "No such webhook.";
    "err.delivery_not_found" => "找不到这条推送记录。", "No such delivery.";
    "err.process_not_found" => "找不到这个后台进程。", "No such supervised process.";
    "err.channel_not_found" => "找不到这个直播频道，或无权观看。", "No such live channel, or you may not watch it.";
    "common.edit" => "编辑", "Edit";
    "common.view" => "查看", "View";
    "common.back" => "返回", "Back";
    "common.optional" => "（选填）", "(optional)";
    "common.created" => "创建时间", "Created";

    "done.station_created" => "电视台已创建。", "Station created.";
    "done.station_updated" => "电视台资料已保存。", "Station saved.";
    "done.user_created" => "用户已创建。", "User created.";
    "done.user_updated" => "用户已保存。", "User saved.";
    "done.token_revoked" => "令牌已吊销。", "Token revoked.";
    "done.item_deleted" => "素材已删除，宽限期内可以恢复。", "Item deleted. It can be restored during the grace period.";
    "done.item_restored" => "素材已恢复。", "Item restored.";
    "done.password_changed" => "密码已修改：所有登录和 API 令牌均已失效，请重新登录。", "Password changed: every sign-in and every API token has ended. Please sign in again.";
    "done.password_reset" => "密码已重置：该用户的所有登录和 API 令牌均已失效。", "Password reset: every sign-in and every API token of this user has ended.";
    "done.signed_out" => "已退出登录。", "Signed out.";

    "form.errors" => "请更正以下问题：", "Please correct the following:";
    "fe.required" => "必填", "is required";
    "fe.too_long" => "太长", "is too long";
    "fe.too_short" => "太短（至少 10 个字符）", "is too short (at least 10 characters)";
    "fe.bad_format" => "格式不正确", "is not in the right format";
    "fe.not_allowed" => "不允许", "is not allowed";
    "fe.not_found" => "不存在", "does not exist";
    "fe.out_of_range" => "超出允许范围", "is out of range";
    "fe.wrong" => "不正确", "is wrong";
    "field.name" => "名称", "Name";
    "field.code" => "代码", "Code";
    "field.city" => "城市", "City";
    "field.province" => "省份", "Province";
    "field.region" => "大区", "Region";
    "field.contact_name" => "联系人", "Contact";
    "field.contact_phone" => "联系电话", "Phone";
    "field.contact_email" => "联系邮箱", "Contact email";
    "field.email" => "邮箱", "Email";
    "field.display_name" => "姓名", "Name";
    "field.role" => "角色", "Role";
    "field.station_id" => "所属电视台", "Station";
    "field.password" => "密码", "Password";
    "field.current_password" => "当前密码", "Current password";
    "field.new_password" => "新密码", "New password";
    "field.scopes" => "权限范围", "Scopes";
    "field.expires_in_days" => "有效天数", "Valid for (days)";
    "field.user_id" => "所有者", "Owner";
    "fe.bad_value" => "不是可选的值", "is not one of the allowed values";
    "fe.unknown_station" => "包含不存在的电视台", "names a station that does not exist";
    "fe.unchanged" => "没有任何改动；更正至少要修改一项", "Nothing changed: a correction must change at least one field";
    "fe.after_to" => "晚于截止日期", "is after the last day";
    "field.title" => "标题", "Title";
    "field.summary" => "简介", "Summary";
    "field.script" => "文稿", "Script";
    "field.keywords" => "关键词", "Keywords";
    "field.category" => "分类", "Category";
    "field.shot_date" => "拍摄日期", "Shot on";
    "field.copyright" => "版权", "Copyright";
    "field.filename" => "文件名", "File name";
    "field.note" => "更正说明", "Correction note";
    "field.reason" => "撤回原因", "Reason";
    "field.q" => "关键词", "Search words";
    "field.station" => "供稿台", "Station";
    "field.from" => "起始日期", "From";
    "field.to" => "截止日期", "To";
    "field.sort" => "排序", "Sort";
    "field.resolution" => "清晰度", "Resolution";
    "field.qc" => "技审结果", "Technical check";
    "field.status" => "状态", "Status";
    "field.min_duration" => "最短时长", "Shortest duration";
    "field.max_duration" => "最长时长", "Longest duration";
    "field.visibility" => "可见范围", "Visibility";
    "field.shared_with" => "指定电视台", "Selected stations";
    "field.embargo_until" => "解禁时间", "Embargoed until";
    "field.licence" => "授权条款", "Licence";
    "field.rendition" => "采用方式", "Form";
    "field.purpose" => "用途", "Purpose";

    "err.title" => "出错了", "Something went wrong";
    "err.home" => "回到首页", "Back to the home page";
    "err.request_id" => "请求编号", "Request id";
    "err.unauthenticated" => "请先登录。", "Please sign in.";
    "err.invalid_credentials" => "邮箱或密码不正确。", "Wrong email or password.";
    "err.account_disabled" => "此账号已停用，请联系管理员。", "This account is disabled. Contact your administrator.";
    "err.forbidden" => "你的角色无权进行此操作。", "Your role does not allow this.";
    "err.insufficient_scope" => "当前凭据的权限范围不足。", "This credential lacks the scope this needs.";
    "err.csrf_failed" => "表单已过期，请刷新页面后重试。", "The form has expired. Reload the page and try again.";
    "err.not_found" => "找不到这个页面。", "This page does not exist.";
    "err.station_not_found" => "找不到这家电视台，或你无权查看。", "No such station, or you may not see it.";
    "err.user_not_found" => "找不到这个用户，或你无权查看。", "No such user, or you may not see it.";
    "err.token_not_found" => "找不到这个令牌，或你无权操作。", "No such token, or you may not act on it.";
    "err.station_code_taken" => "这个代码已被其他电视台使用。", "Another station already uses this code.";
    "err.email_taken" => "这个邮箱已被其他用户使用。", "Another user already uses this email.";
    "err.conflict" => "与现有数据冲突。", "This conflicts with existing data.";
    "err.invalid_state" => "素材当前的状态不允许此操作（例如仍在上传中的素材不能删除）。", "The item's current state does not allow this (an item still uploading cannot be deleted, for example).";
    "err.cannot_change_self" => "不能更改自己的角色或停用自己的账号。", "You cannot change your own role or disable your own account.";
    "err.rate_limited" => "失败次数过多，请稍后再试。", "Too many failed attempts. Please try again later.";
    "login.retry_in" => "约 {n} 分钟后可以再试。", "You can try again in about {n} minutes.";
    "err.validation_failed" => "输入有误。", "Some fields are invalid.";
    "err.malformed_json" => "请求格式不正确。", "The request is malformed.";
    "err.malformed_form" => "表单内容无法读取。", "The form could not be read.";
    "err.invalid_query" => "请求参数不正确。", "A request parameter is invalid.";
    "err.invalid_cursor" => "分页参数无效。", "The page link is invalid.";
    "err.payload_too_large" => "提交的内容太大。", "The submission is too large.";
    "err.unsupported_media_type" => "不支持的请求格式。", "Unsupported request format.";
    "err.method_not_allowed" => "不支持此操作。", "This action is not supported here.";
    "err.token_invalid" => "令牌无效。", "The token is invalid.";
    "err.token_expired" => "令牌已过期。", "The token has expired.";
    "err.token_revoked" => "令牌已被吊销。", "The token was revoked.";
    "err.embargoed" => "这条素材尚在禁发期内，禁发期结束后才能采用。", "This item is under embargo and can be adopted once it ends.";
    "err.asset_withdrawn" => "这条素材已被供稿台撤回。", "The contributing station has withdrawn this item.";
    "err.own_item" => "本台的素材无需采用，已在本台素材库中。", "Your station's own items are already in its library.";
    "err.media_link_invalid" => "播放链接已失效，请刷新页面。", "The playback link has expired or was altered. Reload the page.";
    "err.download_link_invalid" => "下载链接已失效，请在采用记录中重新获取。", "The download link has expired or was altered. Get a new one from the adoption record.";
    "err.adoption_not_found" => "本台尚未以这种形式采用这条素材。", "Your station has not adopted this item in this form.";
    "err.notice_not_found" => "找不到这条通知，或它不是发给本台的。", "No such notice, or it was not sent to your station.";
    "err.asset_not_found" => "找不到这条素材，或你无权查看。", "No such item, or you may not see it.";
    "err.upload_not_found" => "找不到这个上传任务。", "No such upload.";
    "err.file_not_found" => "素材没有这个文件，或尚未生成。", "The item has no such file, or not yet.";
    "err.range_not_satisfiable" => "请求的字节范围超出文件大小。", "The requested byte range lies outside the file.";
    "err.upload_gone" => "这个上传已取消或已过期，请重新上传。", "This upload was cancelled or has expired. Please upload again.";
    "err.upload_complete" => "这个上传已完成，素材已生成；如需删除，请删除素材。", "This upload is complete and its item exists; delete the item instead.";
    "err.tus_version_unsupported" => "上传客户端版本不受支持。", "The upload client's protocol version is not supported.";
    "err.invalid_upload_header" => "上传请求格式不正确。", "The upload request is malformed.";
    "err.checksum_algorithm_unsupported" => "不支持的校验算法。", "Unsupported checksum algorithm.";
    "err.offset_mismatch" => "上传进度不一致，将从服务器记录的位置继续。", "The upload position differs; it will resume from where the server has it.";
    "err.upload_locked" => "这个文件正在另一个窗口上传。", "This file is being uploaded in another window.";
    "err.checksum_mismatch" => "数据校验失败，这一段将重新上传。", "A chunk failed its checksum and will be sent again.";
    "err.upload_too_large" => "文件超过允许的最大大小。", "The file is larger than allowed.";
    "err.upload_overflow" => "上传的数据超过了声明的文件大小。", "More data arrived than the file's declared size.";
    "err.quota_exceeded" => "本台的存储空间已满，请联系平台管理员。", "Your station's storage quota is full. Contact the hub.";
    "err.too_many_uploads" => "本台未完成的上传太多，请先完成或取消一些上传。", "Your station has too many unfinished uploads. Finish or cancel some first.";
    "err.internal" => "服务器内部错误，已记录。请稍后重试。", "An internal error occurred and was logged. Please try again later.";
    "err.unavailable" => "服务暂时不可用，请稍后重试。", "The service is temporarily unavailable. Please try again shortly.";
    "err.timeout" => "请求超时，请稍后重试。", "The request took too long. Please try again.";
}

/// Whether `key` has text in both languages.
pub fn has(key: &str) -> bool {
    lookup(key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_text() {
        for code in crate::error::ErrorCode::ALL {
            assert!(
                lookup(&format!("err.{}", code.as_str())).is_some(),
                "err.{}",
                code.as_str()
            );
        }
    }

    #[test]
    fn roles_regions_and_actions_have_text() {
        for r in cityx_core::Role::ALL {
            assert!(lookup(&format!("role.{}", r.as_str())).is_some());
        }
        for r in cityx_core::Region::ALL {
            assert!(lookup(&format!("region.{}", r.as_str())).is_some());
        }
        for s in cityx_core::Scope::ALL {
            assert!(lookup(&format!("scope.{}", s.as_str())).is_some());
        }
        assert!(
            KEYS.iter()
                .all(|k| lookup(k).is_some_and(|(zh, en)| !zh.is_empty() && !en.is_empty()))
        );
    }

    #[test]
    fn chinese_is_the_default() {
        assert_eq!(T::default().get("nav.home"), "首页");
        assert_eq!(T(Lang::En).get("nav.home"), "Home");
        assert_eq!(T(Lang::En).get("no.such.key"), "no.such.key");
        assert_eq!(T(Lang::Zh).get2("role.", "editor"), "编辑");
        assert_eq!(
            T(Lang::Zh).get2("action.", "future_action"),
            "future_action"
        );
    }
}
