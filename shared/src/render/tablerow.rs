//! Shopify's `{% tablerow x in xs cols: n limit: n offset: n %}`: the body once per item, each
//! in a `<td>`, `cols` cells to a `<tr>` (all of them in one row without `cols`), with the
//! `tablerowloop` object. Items bind leniently, as in [`super::for_block`], whose header it shares.

use std::io::Write;

use liquid_core::error::{ResultLiquidExt, ResultLiquidReplaceExt};
use liquid_core::model::{ValueCow, ValueView};
use liquid_core::runtime::{Interrupt, InterruptRegister};
use liquid_core::{
    BlockReflection, Language, ParseBlock, Renderable, Result, Runtime, TagBlock, TagTokenIter,
};

use super::body::{Body, forget_interrupting_tags_since, interrupting_tags_parsed};
use super::for_block::{LoopHeader, LoopKind};
use super::object_view::fixed_object_view;
use super::runtime::LoopFrame;

#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct TableRowBlock;

impl BlockReflection for TableRowBlock {
    fn start_tag(&self) -> &str {
        "tablerow"
    }

    fn end_tag(&self) -> &str {
        "endtablerow"
    }

    fn description(&self) -> &str {
        "Renders its body once per item as the cells of an HTML table."
    }
}

impl ParseBlock for TableRowBlock {
    fn parse(
        &self,
        arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let header = LoopHeader::parse(arguments, LoopKind::TableRow)?;
        let before = interrupting_tags_parsed();
        let body = Body::parse_rest(&mut tokens, options)?;
        // The loop ends its body's `break` and `continue`.
        forget_interrupting_tags_since(before);
        tokens.assert_empty();
        Ok(Box::new(TableRow { header, body }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct TableRow {
    header: LoopHeader,
    body: Body,
}

impl Renderable for TableRow {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let collection = self.header.evaluate_collection(runtime)?;
        if collection.is_nil() {
            return Ok(());
        }
        let items = self.header.evaluate(&collection, runtime)?;
        super::budget::charge_iterations(runtime, items.len())?;
        let length = items.len();
        let cols = match &self.header.cols {
            Some(cols) => self.header.count(cols, runtime)?.unwrap_or(0),
            None => length,
        };
        writer
            .write_all(b"<tr class=\"row1\">\n")
            .replace("Failed to render")?;
        self.render_cells(&items, cols, writer, runtime)?;
        writer.write_all(b"</tr>\n").replace("Failed to render")?;
        Ok(())
    }
}

impl TableRow {
    fn render_cells(
        &self,
        items: &[ValueCow<'_>],
        cols: usize,
        writer: &mut dyn Write,
        runtime: &dyn Runtime,
    ) -> Result<()> {
        let length = items.len();
        let mut position = Position { col: 1, row: 1 };
        for (index, item) in items.iter().enumerate() {
            let tablerowloop = TableRowLoop::new(index, length, cols, position);
            write!(writer, "<td class=\"col{}\">", position.col).replace("Failed to render")?;
            let frame = LoopFrame {
                parent: runtime,
                var_name: self.header.var_name.as_str(),
                item: item.as_view(),
                loop_name: "tablerowloop",
                forloop: &tablerowloop,
            };
            self.body
                .render_to(writer, &frame)
                .context_key("index")
                .value_with(|| format!("{}", index + 1).into())?;
            write!(writer, "</td>").replace("Failed to render")?;
            let interrupt = frame.registers().get_mut::<InterruptRegister>().reset();
            if let Some(Interrupt::Break) = interrupt {
                break;
            }
            if tablerowloop.col_last && !tablerowloop.last {
                write!(writer, "</tr>\n<tr class=\"row{}\">", position.row + 1)
                    .replace("Failed to render")?;
            }
            position = position.next(cols);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
struct Position {
    col: usize,
    row: usize,
}

impl Position {
    fn next(self, cols: usize) -> Self {
        if self.col == cols {
            Position {
                col: 1,
                row: self.row + 1,
            }
        } else {
            Position {
                col: self.col + 1,
                row: self.row,
            }
        }
    }
}

/// The `tablerowloop` object of Shopify's Liquid.
#[derive(Debug)]
struct TableRowLoop<'p> {
    length: i64,
    index: i64,
    index0: i64,
    rindex: i64,
    rindex0: i64,
    first: bool,
    last: bool,
    col: i64,
    col0: i64,
    col_first: bool,
    col_last: bool,
    row: i64,
    _scope: std::marker::PhantomData<&'p ()>,
}

impl TableRowLoop<'_> {
    const KEYS: &'static [&'static str] = &[
        "length",
        "index",
        "index0",
        "rindex",
        "rindex0",
        "first",
        "last",
        "col",
        "col0",
        "col_first",
        "col_last",
        "row",
    ];

    fn new(index: usize, length: usize, cols: usize, position: Position) -> Self {
        let whole = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let (index, length) = (whole(index), whole(length));
        TableRowLoop {
            length,
            index: index + 1,
            index0: index,
            rindex: length - index,
            rindex0: length - index - 1,
            first: index == 0,
            last: index == length - 1,
            col: whole(position.col),
            col0: whole(position.col) - 1,
            col_first: position.col == 1,
            col_last: position.col == cols,
            row: whole(position.row),
            _scope: std::marker::PhantomData,
        }
    }

    fn field(&self, key: &str) -> Option<&dyn ValueView> {
        Some(match key {
            "length" => &self.length,
            "index" => &self.index,
            "index0" => &self.index0,
            "rindex" => &self.rindex,
            "rindex0" => &self.rindex0,
            "first" => &self.first,
            "last" => &self.last,
            "col" => &self.col,
            "col0" => &self.col0,
            "col_first" => &self.col_first,
            "col_last" => &self.col_last,
            "row" => &self.row,
            _ => return None,
        })
    }
}

fixed_object_view!(TableRowLoop);
